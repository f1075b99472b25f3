"""``KeptResponse``: an answer kept across requests, made once per route."""

from __future__ import annotations

from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.testing import TestClient

from server.responses import KeptResponse


def test_a_kept_response_is_made_once_per_route_and_sent_as_a_plain_response_would_be():
    """``KeptResponse``: the answer a cached copy keeps is Litestar's own for that route (its
    headers merged in), made by the first request and sent again by the next; a route of
    other headers never gets it, and makes its own."""
    body = b'{"score":712,"grade":"A","name":"\xe4\xbf\xa1\xe5\xae\x9d"}'
    kept = KeptResponse(body)

    @get("/kept", cache_control=CacheControlHeader(no_store=True, private=True), sync_to_thread=False)
    def kept_route() -> Response[dict]:
        return kept

    @get("/plain", cache_control=CacheControlHeader(no_store=True, private=True), sync_to_thread=False)
    def plain_route() -> Response[dict]:
        return Response(body, media_type=MediaType.JSON)

    @get("/other", cache_control=CacheControlHeader(max_age=60), response_headers={"x-route": "other"},
         sync_to_thread=False)
    def other_route() -> Response[dict]:
        return kept

    def sent(r) -> tuple:
        return r.status_code, r.content, sorted((k, v) for k, v in r.headers.items() if k != "date")

    with TestClient(Litestar([kept_route, plain_route, other_route])) as client:
        plain = sent(client.get("/plain"))
        first = sent(client.get("/kept"))
        made = kept._asgi
        assert first == plain and dict(first[2])["cache-control"] == "no-store, private"
        assert sent(client.get("/kept")) == plain and kept._asgi is made  # sent again, not made again
        other = sent(client.get("/other"))  # the same copy through a route of other headers
        assert other[1] == body and dict(other[2])["cache-control"] == "max-age=60"
        assert dict(other[2])["x-route"] == "other" and kept._asgi is not made
        assert sent(client.get("/kept")) == plain  # and back: its own headers again
