"""What changed in the tables a request's cache copies, told by the database itself (issue 16).

The hot signed-in reads (who a token's user is and whether it was revoked, a firm's
evaluation) cost a request far more than the answer: a round trip and Piccolo's query
building for every request. Each API process keeps copies of them, and the database says
when a copy must go:

- Triggers (migrations ``2026-12-06T03:30`` and ``T04:00``, PostgreSQL) write a row to ``change_log`` for
  every statement that changes a table the caches copy: a *topic* (``user``, ``token``,
  ``firm``, ``department``, ``score``, ``objection``, ``listing``, ``financing``: see
  :data:`TOPICS`) and a *key* (the user's or firm's id,
  the token's ``jti``), or no key for "all of the topic" (a statement changing many rows, a
  TRUNCATE). Every writer is covered, the CLI and a psql session included, because the rule
  lives in the table, not in the code that writes it.
- :meth:`ChangeFeed.sync` reads the rows it has not applied and drops the copies they name.
  A request calls it before it trusts a copy, and waits for a read that *started after the
  request arrived*: whatever committed before the request (a logout whose answer the client
  already has) is applied before the copy is used. So a revoked token is refused by the very
  next request, in every process, as it was when every request read the database. Requests
  that arrive together share one read: one round trip per batch, not per request.
- Rows are found by the transaction that wrote them (``txid``), not by their id: ids are
  handed out when rows are written and a transaction that took a smaller id may commit after
  one that took a larger. Each read returns its snapshot's ``xmin`` (every older transaction
  has ended) and the next read asks for ``txid >= xmin``; rows read twice are skipped by id.
- A copy is kept only if no change was applied between the read of the database it came
  from and the moment it is stored (:meth:`ChangeCache.ticket`): a change that lands while
  a copy is being read can never leave a stale copy behind.
- If the feed cannot be read, the request fails like any request whose database is down
  (503); nothing is served from a copy that could be stale. A process that has not synced
  for ``idle_clear_s`` drops every copy before the next use, and rows are purged only an
  hour after every transaction older than them had ended, so no row is purged unread by a
  process that still holds copies.

On SQLite (the embedded default, one process) there is no feed and the caches are off: every
request reads the database, as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable, Iterable, MutableMapping
from typing import Any

__all__ = ["ChangeCache", "ChangeFeed", "TOPICS"]

#: The topics the triggers write, and what each key is.
TOPICS = {
    "user": "app_user.id",
    "token": "revoked_token.jti (a token, or sid:<sign-in id>)",
    "firm": "firm.id",
    "department": "none: any change drops every copy of the topic",
    "score": "score_history.firm (none: a scoring run, or many firms at once)",
    "objection": "objection.firm",
    "listing": "dept_record.uscc of a dishonest-debtor record",
    "financing": "none: a product, a bank, the guarantee fund or its ledger",
}

_READ = (
    "WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin) "
    "SELECT s.xmin, c.id, c.txid::text AS txid, c.topic, c.key FROM s "
    "LEFT JOIN change_log c ON $1::text IS NOT NULL AND c.txid >= $1::text::xid8 ORDER BY c.id"
)
_SCOPE_KEY = "xinbao.change_read"  # in a request's scope: the read it needs (or had)
_PURGE = "DELETE FROM change_log WHERE txid < $1::text::xid8"


class ChangeCache:
    """Copies of table rows (or of what is built from them), each tagged with the (topic, key)
    pairs whose change must drop it. Bounded: when full, it starts again empty."""

    def __init__(self, feed: ChangeFeed, topics: Iterable[str], max_entries: int = 50_000) -> None:
        self.feed = feed
        self.topics = frozenset(topics)
        self.max_entries = max_entries
        self._values: dict[Hashable, Any] = {}
        self._tagged: dict[tuple[str, str], set[Hashable]] = {}
        self._changes = 0  # how many changes were applied: a copy read before one is not kept

    def __len__(self) -> int:
        return len(self._values)

    async def sync(self, scope: MutableMapping[str, Any] | None = None) -> None:
        """Apply every change committed before this call (:meth:`ChangeFeed.sync`)."""
        await self.feed.sync(scope)

    def ticket(self) -> int:
        """Take before reading the database; hand to :meth:`put` with what was read."""
        return self._changes

    def get(self, key: Hashable) -> Any:
        return self._values.get(key)

    def put(self, key: Hashable, value: Any, tags: Iterable[tuple[str, str]], ticket: int) -> bool:
        """Keep ``value`` unless a change was applied since ``ticket`` was taken (the value may
        predate it). Returns whether it was kept."""
        if ticket != self._changes or value is None:
            return False
        if len(self._values) >= self.max_entries:
            self.clear()
            return False
        tags = list(tags)
        for tag in tags:
            if tag[0] not in self.topics:
                raise ValueError(f"tag {tag!r}: the cache follows {sorted(self.topics)}")
        self._values[key] = value
        for tag in tags:
            self._tagged.setdefault(tag, set()).add(key)
        return True

    def changed(self, topic: str, key: str | None) -> None:
        """Drop the copies tagged (topic, key); every copy when key is None."""
        self._changes += 1
        if key is None:
            self._values.clear()
            self._tagged.clear()
            return
        for k in self._tagged.pop((topic, key), ()):
            self._values.pop(k, None)  # its other tags stay: a later drop of them finds nothing

    def clear(self) -> None:
        self._changes += 1
        self._values.clear()
        self._tagged.clear()


class ChangeFeed:
    """Reads ``change_log`` for one process and drops what its caches hold of changed rows."""

    def __init__(self, engine: Any, *, idle_clear_s: float = 600.0, retention_s: float = 3600.0) -> None:
        self.engine = engine  # a PostgresEngine
        self.idle_clear_s = idle_clear_s
        self.retention_s = retention_s
        self.caches: list[ChangeCache] = []
        self.reads = 0  # reads that finished (for tests and curiosity)
        self._watermark: str | None = None  # the last read's xmin; None before the first read
        self._applied: dict[int, int] = {}  # id -> txid of rows applied at or above the watermark
        self._synced_at = 0.0  # monotonic time the last read finished
        self._xmins: deque[tuple[float, str]] = deque()  # (when, xmin) seen, for the purge
        self._purged_at = time.monotonic()
        self._started = 0  # reads started
        self._finished = 0  # index of the last read that finished
        self._task: asyncio.Future[None] | None = None
        self._conn: Any = None  # asyncpg connection of its own (see _connection)

    async def _connection(self) -> Any:
        """The feed's own connection, outside the engine's pool: a pooled one is reset on every
        release (a round trip), and the feed reads once per batch of requests."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await self.engine.get_new_connection()
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:  # noqa: BLE001 - already broken: nothing left to close politely
                conn.terminate()

    def cache(self, topics: Iterable[str], max_entries: int = 50_000) -> ChangeCache:
        """A cache this feed keeps up to date."""
        unknown = set(topics) - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topics {sorted(unknown)}")
        cache = ChangeCache(self, topics, max_entries)
        self.caches.append(cache)
        return cache

    async def sync(self, scope: MutableMapping[str, Any] | None = None) -> None:
        """Apply every change committed before this call (one read, shared by the callers that
        arrive while it runs; a read already running when this call came is not enough).

        With the request's ASGI ``scope``, a second call in the same request needs no new read:
        the first one's already started after the request arrived."""
        mark = f"{_SCOPE_KEY}.{id(self)}"  # a string key, as ASGI scope keys are
        if scope is not None and scope.get(mark, 0) and scope[mark] <= self._finished:
            return
        need = self._started + 1
        if scope is not None:
            scope[mark] = need
        while self._finished < need:
            if self._task is None:
                self._started += 1
                self._task = asyncio.ensure_future(self._read(self._started))
            # shield: one caller going away (a closed connection) does not cancel the others' read
            await asyncio.shield(self._task)

    async def _read(self, index: int) -> None:
        try:
            if self._synced_at and time.monotonic() - self._synced_at > self.idle_clear_s:
                for cache in self.caches:  # rows may have been purged unread meanwhile
                    cache.clear()
            conn = await self._connection()
            try:
                rows = await conn.fetch(_READ, self._watermark)
                now = time.monotonic()
                if now - self._purged_at > 60:
                    self._purged_at = now
                    horizon = None
                    while self._xmins and now - self._xmins[0][0] > self.retention_s:
                        horizon = self._xmins.popleft()[1]
                    if horizon is not None:
                        await conn.execute(_PURGE, horizon)
            except BaseException:
                await self.close()  # a broken connection is not used again: the next read opens one
                raise
            xmin = rows[0]["xmin"]
            for row in rows:
                if row["id"] is None or row["id"] in self._applied:
                    continue
                self._applied[row["id"]] = int(row["txid"])
                for cache in self.caches:
                    if row["topic"] in cache.topics:
                        cache.changed(row["topic"], row["key"])
            if self._applied:
                floor = int(xmin)
                self._applied = {i: x for i, x in self._applied.items() if x >= floor}
            if not self._xmins or now - self._xmins[-1][0] > 60:
                self._xmins.append((now, xmin))
            self._watermark = xmin
            self._synced_at = time.monotonic()
            self._finished = index
            self.reads += 1
        finally:
            self._task = None
