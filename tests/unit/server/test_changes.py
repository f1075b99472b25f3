"""``ChangeCache`` on its own: what a change drops, what a stale copy or a full cache does."""

from __future__ import annotations

import pytest

from server.changes import ChangeFeed


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
