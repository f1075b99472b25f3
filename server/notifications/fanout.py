"""Who hears about an event, written with its outbox rows.

``notify_risk_events`` and ``notify_users`` run inside the caller's transaction and write one
Notification per user per event (the dedup key merges repeats; an escalation updates the same
notification) plus the outbox rows that deliver it: ``push`` (live, held back in quiet hours),
``digest`` (collected by the daily digest instead of a push) and ``webhook`` (the bank's URL).
Nothing is sent here: the relay (``alerts.outbox``) delivers after the commit, so a rollback
sends nothing and a crash after the commit loses nothing. On PostgreSQL a ``pg_notify`` in the
same transaction wakes the API's relay the moment the transaction commits."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.digest import next_digest_at, quiet_until
from server import db
from server.consent.services import consented_pairs
from server.notifications.common import (
    ACTIVE_APPLICATION,
    OUTBOX_NOTIFY_CHANNEL,
    VIEW_INBOX,
    chunks,
    json_ready,
    one_of,
    transaction,
)
from server.notifications.events import EVENTS, LEVELS, RiskEvent
from server.notifications.subscriptions import automatic_watches, levels_of
from server.tables.consent import AccessLog
from server.tables.financing import Bank, LoanApplication
from server.tables.notifications import Notification, Outbox, Subscription
from server.tables.scores import ScoreHistory
from server.tables.users import User

__all__ = ["Plan", "notify_risk_events", "notify_users", "write_plans"]

# Who hears about an event

@dataclass(slots=True)
class _Watch:
    """One user's interest in one firm, with the subscription's filters."""

    user_id: int
    role: str
    bank_id: int | None
    levels: frozenset[str]
    kinds: frozenset[str]
    quiet_start: int | None
    quiet_end: int | None
    daily_digest: bool
    detail: bool

    def wants(self, level: str, kind: str) -> bool:
        return level in self.levels and (not self.kinds or kind in self.kinds)


async def _watchers(firm_ids: Sequence[int], now: datetime) -> dict[int, list[_Watch]]:
    """Per firm, the users to tell: subscribers, the managers of banks the firm has live
    applications or loans with (their automatic subscriptions are created on the way), and the
    firm's own owners, who hear every warning on it with its evidence (their own subscription to
    the firm, if they made one, sets the levels and kinds instead)."""
    involved: set[tuple[int, int]] = set()
    for chunk in chunks(firm_ids):
        involved |= {(r["firm"], r["product.bank.id"]) for r in await LoanApplication.select(
            LoanApplication.firm, LoanApplication.product.bank.id,
        ).where(LoanApplication.firm.is_in(list(chunk))
                & LoanApplication.status.is_in(list(ACTIVE_APPLICATION)))}
    await automatic_watches(involved)
    rows: list[dict[str, Any]] = []
    for chunk in chunks(firm_ids):
        rows += await Subscription.select(
            Subscription.firm, Subscription.user.id, Subscription.user.role, Subscription.user.bank,
            Subscription.user.firm, Subscription.user.is_active, Subscription.levels, Subscription.kinds,
            Subscription.quiet_start, Subscription.quiet_end, Subscription.daily_digest,
            Subscription.automatic,
        ).where(Subscription.firm.is_in(list(chunk))).output(load_json=True)
    consented = await consented_pairs({(r["firm"], r["user.bank"]) for r in rows
                                       if r["user.role"] == "bank_manager" and r["user.bank"]}, now=now)
    out: dict[int, list[_Watch]] = defaultdict(list)
    for r in rows:
        if not r["user.is_active"]:
            continue
        role, bank, firm = r["user.role"], r["user.bank"], r["firm"]
        # An automatic watch lasts while the bank still has the firm as applicant or borrower.
        if r["automatic"] and (role != "bank_manager" or (firm, bank) not in involved):
            continue
        detail = (role == "admin" or (role == "owner" and r["user.firm"] == firm)
                  or (role == "bank_manager" and (firm, bank) in consented))
        out[firm].append(_Watch(
            user_id=r["user.id"], role=role, bank_id=bank if role == "bank_manager" else None,
            levels=frozenset(levels_of(r["levels"])), kinds=frozenset(r["kinds"] or []),
            quiet_start=r["quiet_start"], quiet_end=r["quiet_end"], daily_digest=r["daily_digest"],
            detail=detail))
    for chunk in chunks(firm_ids):
        for r in await User.select(User.id, User.firm).where(
                User.firm.is_in(list(chunk)) & (User.role == "owner") & (User.is_active == True)):  # noqa: E712
            if any(w.user_id == r["id"] for w in out[r["firm"]]):
                continue
            out[r["firm"]].append(_Watch(
                user_id=r["id"], role="owner", bank_id=None, levels=frozenset(LEVELS), kinds=frozenset(),
                quiet_start=None, quiet_end=None, daily_digest=False, detail=True))
    return out


async def _latest_grades(firm_ids: Sequence[int]) -> dict[int, str]:
    grades: dict[int, str] = {}
    for chunk in chunks(firm_ids):
        for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade).where(
                ScoreHistory.firm.is_in(list(chunk))).order_by(ScoreHistory.as_of).order_by(ScoreHistory.id):
            grades[r["firm"]] = r["grade"]
    return grades


@dataclass(slots=True)
class Plan:
    """A notification to write (or merge into the one with the same dedup key)."""

    key: str
    user_id: int
    firm_id: int | None
    kind: str
    level: str
    title_zh: str
    body: dict[str, Any]  # JSON-ready, with title_en
    replace: bool  # an existing notification takes this content (False: a repeat, keep it)
    unread: bool  # an update makes it unread again
    push_at: datetime | None  # when to push (None: no push)
    digest_at: datetime | None = None  # collect in the daily digest instead of pushing
    webhook: bool = False  # also POST to the user's bank webhook
    viewer_bank: int | None = None  # a bank manager gets the firm's evidence: a logged view


async def write_plans(plans: Sequence[Plan], now: datetime) -> int:
    """Insert or merge the notifications and queue their deliveries; the number written."""
    merged: dict[str, Plan] = {}
    for p in plans:  # the same key twice in one batch: the later event wins
        merged[p.key] = p
    plans = list(merged.values())
    existing = {r["dedup_key"]: r for r in await Notification.select(
        Notification.id, Notification.dedup_key, Notification.level, Notification.title, Notification.body,
    ).where(one_of(Notification.dedup_key, [p.key for p in plans])).output(load_json=True)}
    written: list[tuple[int, Plan]] = []
    fresh = [p for p in plans if p.key not in existing]
    for chunk in chunks(fresh, 200):
        by_key = {p.key: p for p in chunk}
        rows = await Notification.insert(*[
            Notification(user=p.user_id, firm=p.firm_id, kind=p.kind, level=p.level, title=p.title_zh,
                         body=p.body, dedup_key=p.key, created_at=now, updated_at=now)
            for p in chunk
        ]).on_conflict(target=Notification.dedup_key, action="DO NOTHING").returning(
            Notification.id, Notification.dedup_key)
        written += [(r["id"], by_key[r["dedup_key"]]) for r in rows]
    groups: dict[tuple[str, str, str, bool], list[tuple[int, Plan]]] = defaultdict(list)
    for p in plans:
        old = existing.get(p.key)
        if old is None or not p.replace:
            continue
        if (old["level"], old["title"], _content(old["body"])) == (p.level, p.title_zh, _content(p.body)):
            continue  # the same event again: one notification, nothing new to send
        groups[(p.level, p.title_zh, json.dumps(p.body, sort_keys=True), p.unread)].append((old["id"], p))
    updated: list[int] = []
    for (level, title, _body, unread), members in groups.items():
        values: dict[Any, Any] = {Notification.level: level, Notification.title: title,
                                  Notification.body: members[0][1].body, Notification.updated_at: now,
                                  Notification.delivered_at: None}
        if unread:
            values[Notification.read_at] = None
        ids = [i for i, _ in members]
        await Notification.update(values).where(one_of(Notification.id, ids))
        updated += ids
        written += members
    waiting: set[tuple[int, str]] = set()
    if updated:  # an unsent row will send the new content: no second row
        waiting = {(r["notification"], r["channel"]) for r in await Outbox.select(
            Outbox.notification, Outbox.channel).where(
            one_of(Outbox.notification, updated) & (Outbox.status == "pending") & (Outbox.attempts == 0))}
    rows: list[Outbox] = []
    for nid, p in written:
        if p.digest_at is not None:
            if (nid, "digest") not in waiting:
                rows.append(Outbox(notification=nid, channel="digest", next_attempt_at=p.digest_at))
        elif p.push_at is not None and (nid, "push") not in waiting:
            rows.append(Outbox(notification=nid, channel="push", next_attempt_at=p.push_at))
        if p.webhook:
            rows.append(Outbox(notification=nid, channel="webhook", next_attempt_at=now))
    for chunk in chunks(rows):
        await Outbox.insert(*chunk)
    views = [AccessLog(firm=p.firm_id, viewer=p.user_id, viewer_role="bank_manager", bank=p.viewer_bank,
                       what=VIEW_INBOX, at=now)
             for _, p in written if p.viewer_bank is not None and p.firm_id is not None]
    for chunk in chunks(views):  # the evidence is in the bank's inbox now: the firm sees who
        await AccessLog.insert(*chunk)
    if rows and db.on_postgres():
        # Delivered by PostgreSQL only when the surrounding transaction commits.
        await Outbox.raw(f"SELECT pg_notify('{OUTBOX_NOTIFY_CHANNEL}', '')")
    return len(written)


def _content(body: dict[str, Any] | None) -> dict[str, Any]:
    """What makes two versions of a notification different (not just the time it was sent)."""
    return {k: v for k, v in (body or {}).items() if k != "at"}


_CLOSED = ("已解除：", "Cleared: ")


def _risk_body(e: RiskEvent, grade: str | None, detail: bool) -> dict[str, Any]:
    title_en = _CLOSED[1] + e.title_en if e.event == "closed" else e.title_en
    body: dict[str, Any] = {
        "title_en": title_en, "event": e.event, "warning_level": e.level, "rule_code": e.rule_code,
        "risk_kind": e.kind,
        "warning_id": e.warning_id, "uscc": e.uscc, "firm_name": e.firm_name, "grade": grade,
        "at": e.at.isoformat(), "detail": detail,
    }
    if detail:
        body |= {"message_zh": e.message_zh, "message_en": e.message_en, "evidence": e.evidence}
    return json_ready(body)


async def notify_risk_events(events: list[RiskEvent]) -> int:
    """Notify everyone interested in each warning change; awaited inside the caller's transaction
    (on SQLite an IMMEDIATE one, e.g. ``transaction()`` here: this reads, then writes).

    One notification per user per warning (``risk:{warning_id}:{user_id}``): a repeat of
    "raised" changes nothing, an escalation updates it and queues a new push. Clearing is an
    event of its own (``risk:{warning_id}:{user_id}:closed``, level blue, "已解除：…", at the
    time it cleared): the raised entry keeps its level and time, so the inbox reads both.
    Subscribers get public signals (grade letter, level, title); the firm's owner, admins and
    managers of banks holding the firm's consent also get the message and evidence. Quiet hours
    hold pushes back until they end; digest subscribers get the daily digest instead; banks with
    a webhook get one POST per event. Returns the number of notifications written."""
    if not events:
        return 0
    for e in events:
        if e.level not in LEVELS:
            raise ValueError(f"level: {e.level!r} is not one of {LEVELS}")
        if e.event not in EVENTS:
            raise ValueError(f"event: {e.event!r} is not one of {EVENTS}")
    now = datetime.now(UTC)
    firm_ids = sorted({e.firm_id for e in events})
    async with transaction():
        watchers = await _watchers(firm_ids, now)
        grades = await _latest_grades(firm_ids)
        hooked = await _banks_with_webhooks({w.bank_id for ws in watchers.values() for w in ws if w.bank_id})
        plans: list[Plan] = []
        for e in events:
            webhook_banks: set[int] = set()
            for w in sorted(watchers.get(e.firm_id, []), key=lambda w: w.user_id):
                if not w.wants(e.level, e.kind):
                    continue
                held = quiet_until(now, w.quiet_start, w.quiet_end)
                webhook = w.bank_id in hooked and w.bank_id not in webhook_banks
                if webhook:
                    webhook_banks.add(w.bank_id)  # type: ignore[arg-type]
                closed = e.event == "closed"
                title = _CLOSED[0] + e.title_zh if closed else e.title_zh
                plans.append(Plan(
                    key=f"risk:{e.warning_id}:{w.user_id}" + (":closed" if closed else ""),
                    user_id=w.user_id, firm_id=e.firm_id,
                    kind="risk", level="blue" if closed else e.level, title_zh=title,
                    body=_risk_body(e, grades.get(e.firm_id), w.detail),
                    replace=e.event == "escalated", unread=e.event == "escalated",
                    push_at=None if w.daily_digest else (held or now),
                    digest_at=next_digest_at(now) if w.daily_digest else None,
                    webhook=webhook, viewer_bank=w.bank_id if w.detail else None))
        return await write_plans(plans, now)


async def _banks_with_webhooks(bank_ids: set[int]) -> set[int]:
    if not bank_ids:
        return set()
    rows = await Bank.select(Bank.id).where(
        Bank.id.is_in(sorted(bank_ids)) & Bank.webhook_url.is_not_null() & Bank.webhook_secret.is_not_null())
    return {r["id"] for r in rows}


async def notify_users(user_ids: Iterable[int], kind: str, level: str, title_zh: str, title_en: str,
                       body: dict[str, Any], dedup_key: str, firm_id: int | None = None) -> int:
    """Notify the given users of any other event (a policy match, an application decision).

    Each user's notification has the key ``{dedup_key}:{user_id}``: sending the same content
    again does nothing, new content updates the notification and pushes it again. Joins the
    caller's transaction if one is open. Returns the number of notifications written."""
    if level not in LEVELS:
        raise ValueError(f"level: {level!r} is not one of {LEVELS}")
    if not 1 <= len(kind) <= 30:
        raise ValueError("kind: 1 to 30 characters")
    if not 1 <= len(dedup_key) <= 180:
        raise ValueError("dedup_key: 1 to 180 characters")
    now = datetime.now(UTC)
    content = json_ready({**body, "title_en": title_en})
    plans = [Plan(key=f"{dedup_key}:{uid}", user_id=uid, firm_id=firm_id, kind=kind, level=level,
                   title_zh=title_zh, body=content, replace=True, unread=True, push_at=now)
             for uid in sorted(set(user_ids))]
    if not plans:
        return 0
    async with transaction():
        return await write_plans(plans, now)
