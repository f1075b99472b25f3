"""The outbox relay: deliver what the notification service committed, at least once.

Notifications and their outbox rows are written in the transaction of the event that caused
them; this relay claims due rows (a lease: the row is pushed into the future, so a relay that
dies mid-delivery only delays it), delivers them and then marks them sent, or schedules a
retry with exponential backoff and gives up after ``max_attempts``. A crash after delivering
but before marking repeats the delivery: every message carries the notification id (and its
``updated_at``), so clients drop what they already have.

The storage and the transports are protocols: ``server.notifications`` implements the store
on the database, Litestar Channels / Redis publish pushes, ``alerts.webhooks`` POSTs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = [
    "Delivery",
    "OutboxStore",
    "Publisher",
    "RetryPolicy",
    "Sender",
    "drain_push",
    "relay_webhooks",
]

log = logging.getLogger("xinbao.outbox")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox row, ready to send."""

    outbox_id: int
    channel: str  # push / webhook
    attempts: int  # including the one being made
    user_id: int
    notification_id: int
    payload: bytes  # the JSON to send
    key: str = ""  # X-Xinbao-Delivery: the same across retries of this delivery
    url: str | None = None  # webhooks
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base_s * factor**(attempts-1)`` capped, then give up."""

    base_s: float = 2.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.cap_s, self.base_s * self.factor ** max(attempts - 1, 0)))

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed tries; None = give up."""
        if attempts >= self.max_attempts:
            return None
        return now + self.delay(attempts)


class OutboxStore(Protocol):
    async def claim(self, channel: str, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Take up to ``limit`` due pending rows of ``channel`` (not taken by another relay)."""
        ...

    async def sent(self, deliveries: Sequence[Delivery], now: datetime) -> None: ...

    async def failed(self, delivery: Delivery, error: str, retry_at: datetime | None,
                     now: datetime) -> None:
        """Record a failed try: pending again at ``retry_at``, or failed for good when None."""
        ...


class Publisher(Protocol):
    async def publish(self, messages: Sequence[tuple[int, bytes]]) -> None:
        """Send each ``(user_id, json)`` to that user's live channel."""
        ...


class Sender(Protocol):
    async def send(self, delivery: Delivery) -> None:
        """Deliver one webhook; raise on failure."""
        ...


PUSH_LEASE = timedelta(seconds=30)
WEBHOOK_LEASE = timedelta(seconds=120)
# A push that Redis did not take stays pending for ever (capped backoff): an outage must not
# turn live alerts into "failed" rows; ``max_attempts`` is unused for pushes.
PUSH_POLICY = RetryPolicy(base_s=1.0, cap_s=60.0, max_attempts=20)
WEBHOOK_POLICY = RetryPolicy()


async def drain_push(store: OutboxStore, publisher: Publisher, *, limit: int = 2000,
                     lease: timedelta = PUSH_LEASE, policy: RetryPolicy = PUSH_POLICY,
                     max_batches: int = 1000) -> int:
    """Publish due push rows batch after batch until none are due; the number published.

    A row is marked sent only after its publish returned; a failed publish (Redis down) leaves
    the batch pending, to be tried again after ``policy``'s delay, however long the outage.
    Marking a batch sent runs while the next batch is claimed and published, so a large
    fan-out reaches its last subscriber sooner."""
    total = 0
    marking: asyncio.Task[None] | None = None
    try:
        for _ in range(max_batches):
            now = datetime.now(UTC)
            batch = await store.claim("push", now, limit, lease)
            if not batch:
                break
            try:
                await publisher.publish([(d.user_id, d.payload) for d in batch])
            except Exception as exc:
                log.warning("push publish failed for %d rows: %s", len(batch), exc)
                for d in batch:
                    await store.failed(d, f"{type(exc).__name__}: {exc}"[:500],
                                       now + policy.delay(d.attempts), now)
                break
            if marking is not None:
                await marking
            marking = asyncio.create_task(store.sent(batch, now))
            total += len(batch)
    finally:
        if marking is not None:
            await marking
    return total


async def relay_webhooks(store: OutboxStore, sender: Sender, now: datetime, *, limit: int = 50,
                         lease: timedelta = WEBHOOK_LEASE, policy: RetryPolicy = WEBHOOK_POLICY,
                         concurrency: int = 8) -> int:
    """POST one batch of due webhook rows, a few at a time; the number accepted."""
    batch = await store.claim("webhook", now, limit, lease)
    if not batch:
        return 0
    gate = asyncio.Semaphore(concurrency)
    done: list[Delivery] = []

    async def one(d: Delivery) -> None:
        async with gate:
            try:
                await sender.send(d)
            except Exception as exc:
                retry_at = policy.next_attempt(d.attempts, now)
                log.info("webhook %s attempt %d failed (%s); %s", d.key, d.attempts, exc,
                         f"retry at {retry_at}" if retry_at else "giving up")
                await store.failed(d, str(exc)[:500], retry_at, now)
            else:
                done.append(d)

    await asyncio.gather(*(one(d) for d in batch))
    if done:
        await store.sent(done, now)
    return len(done)
