"""Answers kept across requests: a JSON body and the ASGI response made of it once."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Response
from litestar.response.base import ASGIResponse

__all__ = ["KeptResponse"]


class KeptResponse(Response[bytes]):
    """A JSON body kept across requests (a cached copy's, a shared check's) with the answer
    made of it. The first request that sends it has Litestar make its ASGI response (the
    route's headers, e.g. its cache-control, merged in as for any ``Response``); the requests
    after it send that same response. Making it cost about a tenth of a cached evaluation's
    server time (docs/scale.md), and nothing in it depends on the request: the route's
    headers, status and background are its handler's own, and an ``ASGIResponse`` holds no
    state while it is sent. A route of other options makes its own (see below)."""

    __slots__ = ("_asgi", "_made_with")

    def __init__(self, body: bytes, status_code: int | None = None) -> None:
        super().__init__(body, media_type=MediaType.JSON, status_code=status_code)
        self._asgi: ASGIResponse | None = None
        self._made_with: dict[str, Any] = {}

    def to_asgi_response(self, app: Any, request: Any, **options: Any) -> ASGIResponse:
        # The route hands the same objects every time (its headers, cookies and encoders are
        # made once per handler); any other option, or another route, makes the answer again,
        # so a kept answer is never sent with headers it was not made with.
        made = self._made_with
        if self._asgi is None or made.keys() != options.keys() or any(
                made[k] is not v for k, v in options.items()):
            self._asgi = super().to_asgi_response(app, request, **options)
            self._made_with = options
        return self._asgi
