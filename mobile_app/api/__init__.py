"""The app's only way to the platform: an HTTP client, the push stream, typed results."""

from mobile_app.api.client import (
    DEFAULT_API_URL,
    ApiClient,
    ApiError,
    AuthError,
    ConnectionLost,
    api_url_from_env,
)
from mobile_app.api.decode import DecodeError, decode
from mobile_app.api.push import PushStream, SseEvent, parse_sse

__all__ = [
    "DEFAULT_API_URL", "ApiClient", "ApiError", "AuthError", "ConnectionLost", "DecodeError",
    "PushStream", "SseEvent", "api_url_from_env", "decode", "parse_sse",
]
