"""``ChangeCache`` on its own: what a change drops, what a stale copy or a full cache does."""

from __future__ import annotations

import pytest
from litestar import Litestar, MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.testing import TestClient

from server.changes import ChangeFeed, KeptResponse


def _cache(max_entries: int = 100):
    return ChangeFeed(engine=None).cache(("user", "token", "firm"), max_entries)


def test_a_change_drops_the_copies_tagged_with_it_and_only_those():
    cache = _cache()
    t = cache.ticket()
    assert cache.put("a", 1, [("user", "1"), ("token", "sid:x")], t)
    assert cache.put("b", 2, [("user", "2"), ("token", "sid:x")], t)
    assert cache.put("c", 3, [("user", "3")], t)
    cache.changed("user", "1")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)
    cache.changed("token", "sid:x")  # a sign-in shared by two copies
    assert (cache.get("b"), cache.get("c")) == (None, 3)
    cache.changed("firm", "3")  # nothing tagged so
    assert cache.get("c") == 3
    cache.changed("user", None)  # the whole topic
    assert len(cache) == 0


def test_a_copy_read_before_any_change_is_refused_and_a_full_cache_starts_again():
    cache = _cache(max_entries=2)
    stale = cache.ticket()
    cache.changed("firm", "9")  # a change about something else still counts: the copy may predate it
    assert not cache.put("a", 1, [("user", "1")], stale)
    t = cache.ticket()
    assert cache.put("a", 1, [("user", "1")], t) and cache.put("b", 2, [("user", "2")], t)
    assert not cache.put("c", 3, [("user", "3")], t)  # full: emptied, and this copy not kept
    assert len(cache) == 0


def test_tags_outside_the_cache_topics_and_unknown_topics_are_errors():
    cache = _cache()
    with pytest.raises(ValueError, match="follows"):
        cache.put("a", 1, [("score", "1")], cache.ticket())
    with pytest.raises(ValueError, match="unknown topics"):
        ChangeFeed(engine=None).cache(("nope",))


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
