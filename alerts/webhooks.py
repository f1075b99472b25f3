"""Signed webhook POSTs: ``X-Xinbao-Signature: sha256=<hex HMAC-SHA256 of the body>``.

The receiver recomputes the HMAC over the raw body with the shared secret and compares in
constant time; ``X-Xinbao-Delivery`` stays the same across retries of one delivery, so a
receiver drops a delivery it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import httpx

from alerts.netguard import AllowList, BlockedTarget, Resolver, pin
from alerts.outbox import Delivery

__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "WebhookError", "WebhookSender", "sign", "verify"]

SIGNATURE_HEADER = "X-Xinbao-Signature"
DELIVERY_HEADER = "X-Xinbao-Delivery"


class WebhookError(Exception):
    """The receiver did not accept the delivery (network error or non-2xx answer)."""


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """True if ``header`` is the signature of ``body`` under ``secret`` (constant-time)."""
    return hmac.compare_digest(sign(body, secret), header)


class WebhookSender:
    """POSTs deliveries with an ``httpx.AsyncClient`` the caller owns (and closes).

    Each delivery resolves the URL's host again, refuses non-public addresses (unless ``allow``,
    the operator's ``webhook_allow``, names them) and connects to the address it checked; it
    never follows redirects. Only the status code of an answer is kept, never its body."""

    def __init__(self, client: httpx.AsyncClient, timeout_s: float = 10.0, *,
                 allow: Sequence[str] | AllowList = (), resolver: Resolver | None = None) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.allow = allow if isinstance(allow, AllowList) else AllowList.parse(allow)
        self.resolver = resolver

    async def send(self, delivery: Delivery) -> None:
        if not delivery.url or not delivery.secret:
            raise WebhookError("the bank has no webhook URL or secret any more")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.payload, delivery.secret),
            DELIVERY_HEADER: delivery.key,
            "User-Agent": "xinbao-webhooks/1",
        }
        try:
            target = await pin(delivery.url, self.allow, resolver=self.resolver)
        except BlockedTarget as exc:
            raise WebhookError(str(exc)[:300]) from exc
        headers["Host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
        try:
            # Streamed and closed unread: the reply body is never downloaded, let alone stored.
            async with self.client.stream("POST", target.url, content=delivery.payload, headers=headers,
                                          timeout=self.timeout_s, follow_redirects=False,
                                          extensions=extensions) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            raise WebhookError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        if not 200 <= status < 300:
            raise WebhookError(f"HTTP {status}")
