"""Watchlists and notifications: who hears about what, written with its outbox rows.

``notify_risk_events`` and ``notify_users`` run inside the caller's transaction and write one
Notification per user per event (the dedup key merges repeats; an escalation updates the same
notification) plus the outbox rows that deliver it: ``push`` (live, held back in quiet hours),
``digest`` (collected by the daily digest instead of a push) and ``webhook`` (the bank's URL).
Nothing is sent here: the relay (``alerts.outbox``) delivers after the commit, so a rollback
sends nothing and a crash after the commit loses nothing. On PostgreSQL a ``pg_notify`` in the
same transaction wakes the API's relay the moment the transaction commits.

Evidence follows consent, at every read: a stored notification keeps its detail (message,
evidence) only while its reader would get detail today (``bodies_now``), so after a firm
revokes, the bank's inbox, a stream's catch-up and a webhook still queued carry public signals
only. Each detailed delivery to a bank (the inbox copy, each push, each webhook) is a view in
the firm's access log.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from piccolo.columns.combination import WhereRaw

from alerts.digest import digest_content, local_date, next_digest_at, quiet_until
from alerts.netguard import BlockedTarget, check_url
from alerts.outbox import Delivery
from server import db
from server.consent.services import consented_pairs
from server.lookup import firm_by_uscc
from server.notifications.events import EVENTS, LEVELS, RiskEvent
from server.notifications.schemas import (
    MarkedRead,
    NotificationOut,
    SubscriptionCreate,
    SubscriptionOut,
    UnreadCount,
    WebhookOut,
    WebhookUpdate,
)
from server.tables.consent import AccessLog
from server.tables.financing import Bank, LoanApplication
from server.tables.notifications import Notification, Outbox, Subscription
from server.tables.scores import ScoreHistory
from server.tables.users import User
from server.texts import Text, t
from server.users.security import AuthUser

__all__ = [
    "ACTIVE_APPLICATION",
    "DETAIL_KEYS",
    "OUTBOX_NOTIFY_CHANNEL",
    "DbOutboxStore",
    "Reader",
    "bodies_now",
    "catch_up",
    "daily_digest",
    "ensure_bank_watch",
    "list_notifications",
    "list_subscriptions",
    "mark_all_read",
    "mark_read",
    "notification_out",
    "notify_risk_events",
    "notify_users",
    "public_signals",
    "set_bank_webhook",
    "subscribe",
    "transaction",
    "unread_count",
    "unsubscribe",
]

# Applications that make a firm "your applicant or borrower" for the bank's managers.
ACTIVE_APPLICATION = ("pending", "approved", "disbursed", "defaulted")
OUTBOX_NOTIFY_CHANNEL = "xinbao_outbox"  # PostgreSQL LISTEN/NOTIFY channel that wakes the relay
# ``AccessLog.what`` of a detailed warning delivered to a bank, by channel.
VIEW_INBOX, VIEW_PUSH, VIEW_WEBHOOK = "warning", "warning_push", "warning_webhook"
_CHUNK = 500
T = TypeVar("T")

#: One transaction, IMMEDIATE on SQLite (callers read, then write); joins an open one.
transaction = db.write_transaction


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _one_of(column: Any, values: Sequence[int] | Sequence[str]) -> WhereRaw:
    """``column IN values`` with the values as one parameter: Piccolo builds a long ``is_in``
    list at ~50 µs per value, which dominated a 10,000-user fan-out (and has parameter limits)."""
    name = f'"{column._meta.table._meta.tablename}"."{column._meta.db_column_name}"'
    if db.on_postgres():
        return WhereRaw(f"{name} = ANY({{}})", list(values))
    return WhereRaw(f"{name} IN (SELECT value FROM json_each({{}}))", json.dumps(list(values)))


def _json_ready(value: dict[str, Any]) -> dict[str, Any]:
    """The dict as it will come back from the JSON column (dates as strings), for comparing."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


# ---------------------------------------------------------------------------------------------
# Subscriptions

async def _detail_for(user: AuthUser, firm_id: int) -> bool:
    """Full detail (evidence) or public signals only: consent decides for banks."""
    reader = _reader(user)
    if reader.always_detail(firm_id):
        return True
    pair = reader.bank_pair(firm_id)
    return pair is not None and bool(await consented_pairs([pair]))


# ---------------------------------------------------------------------------------------------
# Detail as consent allows it now

#: What a detailed risk body adds to the public signals (level, title, rule, firm, grade).
DETAIL_KEYS = ("message_zh", "message_en", "evidence")


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a notification: what decides whether its evidence may be shown."""

    role: str
    bank_id: int | None  # a bank manager's bank
    firm_id: int | None  # an owner's firm

    def always_detail(self, firm_id: int | None) -> bool:
        """Admins, and the firm's own owner, see detail whatever the consents."""
        return self.role == "admin" or (self.role == "owner" and firm_id is not None
                                        and self.firm_id == firm_id)

    def bank_pair(self, firm_id: int | None) -> tuple[int, int] | None:
        """``(firm, bank)`` whose consent decides, for a bank manager; None for anyone else."""
        if self.role != "bank_manager" or self.bank_id is None or firm_id is None:
            return None
        return firm_id, self.bank_id


def _reader(user: AuthUser) -> Reader:
    return Reader(role=user.role, bank_id=user.bank_id, firm_id=user.firm_id)


def _pairs(pairs: Iterable[tuple[int, int] | None]) -> set[tuple[int, int]]:
    return {p for p in pairs if p is not None}


def public_signals(body: dict[str, Any]) -> dict[str, Any]:
    """A detailed body cut down to what anyone signed in may see."""
    return {**{k: v for k, v in body.items() if k not in DETAIL_KEYS}, "detail": False}


async def bodies_now(items: Sequence[tuple[Reader, int | None, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each stored body ``(reader, firm_id the note is about, body)`` as its reader may see it
    now: a detailed body keeps its evidence only for the firm's owner, admins and managers of a
    bank whose consent is in force; everyone else gets the public signals. One consent query
    for the whole batch. The inbox, the streams' catch-up and the outbox relay all call this."""
    detailed = [(reader, firm) for reader, firm, body in items if body.get("detail")]
    consented = await consented_pairs(_pairs(
        reader.bank_pair(firm) for reader, firm in detailed if not reader.always_detail(firm)))
    out = []
    for reader, firm, body in items:
        keep = (not body.get("detail") or reader.always_detail(firm)
                or reader.bank_pair(firm) in consented)
        out.append(body if keep else public_signals(body))
    return out


_SUB_COLUMNS = (
    Subscription.id, Subscription.firm.id, Subscription.firm.uscc, Subscription.firm.name,
    Subscription.levels, Subscription.kinds, Subscription.quiet_start, Subscription.quiet_end,
    Subscription.daily_digest, Subscription.automatic, Subscription.created_at,
)


async def _subscription_out(user: AuthUser, row: dict[str, Any]) -> SubscriptionOut:
    return SubscriptionOut(
        id=row["id"], uscc=row["firm.uscc"], firm_name=row["firm.name"],
        levels=_levels(row["levels"]), kinds=list(row["kinds"] or []),
        quiet_start=row["quiet_start"], quiet_end=row["quiet_end"], daily_digest=row["daily_digest"],
        automatic=row["automatic"], detail=await _detail_for(user, row["firm.id"]),
        created_at=row["created_at"],
    )


def _levels(stored: str) -> list[str]:
    return [lv for lv in (stored or "").split(",") if lv]


async def subscribe(user: AuthUser, data: SubscriptionCreate) -> SubscriptionOut:
    """Watch a firm; watching it again replaces the filters (one subscription per firm)."""
    if (data.quiet_start is None) != (data.quiet_end is None):
        field = "quiet_end" if data.quiet_end is None else "quiet_start"
        raise ValidationException(t("{field}: give both quiet_start and quiet_end, or neither", field=field))
    if data.quiet_start is not None and data.quiet_start == data.quiet_end:
        raise ValidationException(t("quiet_end: must differ from quiet_start"))
    firm = await firm_by_uscc(data.uscc)
    levels = ",".join(lv for lv in LEVELS if lv in data.levels)
    kinds = sorted(set(data.kinds))
    values = {Subscription.levels: levels, Subscription.kinds: kinds,
              Subscription.quiet_start: data.quiet_start, Subscription.quiet_end: data.quiet_end,
              Subscription.daily_digest: data.daily_digest}
    async with transaction():
        current = await Subscription.select(Subscription.id).where(
            (Subscription.user == user.id) & (Subscription.firm == firm["id"])).first()
        if current is not None:
            await Subscription.update(values).where(Subscription.id == current["id"])
            sub_id = current["id"]
        else:
            sub = Subscription(user=user.id, firm=firm["id"], levels=levels, kinds=kinds,
                               quiet_start=data.quiet_start, quiet_end=data.quiet_end,
                               daily_digest=data.daily_digest, automatic=False,
                               created_at=datetime.now(UTC))
            await sub.save()
            sub_id = sub.id
    row = await Subscription.select(*_SUB_COLUMNS).where(Subscription.id == sub_id).output(
        load_json=True).first()
    return await _subscription_out(user, row)


async def list_subscriptions(user: AuthUser) -> list[SubscriptionOut]:
    rows = await Subscription.select(*_SUB_COLUMNS).where(Subscription.user == user.id).order_by(
        Subscription.id).output(load_json=True)
    return [await _subscription_out(user, r) for r in rows]


async def unsubscribe(user: AuthUser, subscription_id: int) -> None:
    """Stop watching; a bank's automatic watch of its own applicant can only be narrowed."""
    row = await Subscription.select(Subscription.id, Subscription.user, Subscription.automatic).where(
        Subscription.id == subscription_id).first()
    if row is None or row["user"] != user.id:
        raise NotFoundException(t("subscription_id: you have no subscription {subscription_id}", subscription_id=subscription_id))
    if row["automatic"]:
        raise ClientException(t(
            "subscription_id: {subscription_id} is your bank's automatic watch of an applicant or "
            "borrower; narrow it with POST /api/subscriptions (levels, kinds, quiet hours) instead",
            subscription_id=subscription_id), status_code=409)
    await Subscription.delete().where(Subscription.id == subscription_id)


async def ensure_bank_watch(application_id: int) -> int:
    """Give every manager of the application's bank an automatic watch of the applicant (call
    when an application is created or approved); the number of watches made. Interest is also
    derived from live applications when an event happens, so a missed call loses nothing."""
    app = await LoanApplication.select(
        LoanApplication.firm, LoanApplication.product.bank.id, LoanApplication.status,
    ).where(LoanApplication.id == application_id).first()
    if app is None or app["status"] not in ACTIVE_APPLICATION:
        return 0
    async with transaction():
        return len(await _automatic_watches({(app["firm"], app["product.bank.id"])}))


async def _automatic_watches(involved: set[tuple[int, int]]) -> list[dict[str, Any]]:
    """Create the missing automatic subscriptions of the managers of the (firm, bank) pairs."""
    banks = sorted({b for _, b in involved})
    if not banks:
        return []
    managers: dict[int, list[int]] = defaultdict(list)
    for r in await User.select(User.id, User.bank).where(
            (User.role == "bank_manager") & User.bank.is_in(banks) & (User.is_active == True)):  # noqa: E712
        managers[r["bank"]].append(r["id"])
    firms = sorted({f for f, _ in involved})
    have: set[tuple[int, int]] = set()
    for chunk in _chunks(firms):
        have |= {(r["firm"], r["user"]) for r in await Subscription.select(
            Subscription.firm, Subscription.user).where(Subscription.firm.is_in(list(chunk)))}
    now = datetime.now(UTC)
    missing = sorted({(f, u) for f, b in involved for u in managers.get(b, []) if (f, u) not in have})
    for chunk in _chunks(missing):
        await Subscription.insert(*[
            Subscription(user=u, firm=f, levels=",".join(LEVELS), kinds=[], automatic=True, created_at=now)
            for f, u in chunk
        ])
    return [{"firm": f, "user": u} for f, u in missing]


# ---------------------------------------------------------------------------------------------
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
    for chunk in _chunks(firm_ids):
        involved |= {(r["firm"], r["product.bank.id"]) for r in await LoanApplication.select(
            LoanApplication.firm, LoanApplication.product.bank.id,
        ).where(LoanApplication.firm.is_in(list(chunk))
                & LoanApplication.status.is_in(list(ACTIVE_APPLICATION)))}
    await _automatic_watches(involved)
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(firm_ids):
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
            levels=frozenset(_levels(r["levels"])), kinds=frozenset(r["kinds"] or []),
            quiet_start=r["quiet_start"], quiet_end=r["quiet_end"], daily_digest=r["daily_digest"],
            detail=detail))
    for chunk in _chunks(firm_ids):
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
    for chunk in _chunks(firm_ids):
        for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade).where(
                ScoreHistory.firm.is_in(list(chunk))).order_by(ScoreHistory.as_of).order_by(ScoreHistory.id):
            grades[r["firm"]] = r["grade"]
    return grades


# ---------------------------------------------------------------------------------------------
# Writing notifications and their outbox rows

@dataclass(slots=True)
class _Plan:
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


async def _write(plans: Sequence[_Plan], now: datetime) -> int:
    """Insert or merge the notifications and queue their deliveries; the number written."""
    merged: dict[str, _Plan] = {}
    for p in plans:  # the same key twice in one batch: the later event wins
        merged[p.key] = p
    plans = list(merged.values())
    existing = {r["dedup_key"]: r for r in await Notification.select(
        Notification.id, Notification.dedup_key, Notification.level, Notification.title, Notification.body,
    ).where(_one_of(Notification.dedup_key, [p.key for p in plans])).output(load_json=True)}
    written: list[tuple[int, _Plan]] = []
    fresh = [p for p in plans if p.key not in existing]
    for chunk in _chunks(fresh, 200):
        by_key = {p.key: p for p in chunk}
        rows = await Notification.insert(*[
            Notification(user=p.user_id, firm=p.firm_id, kind=p.kind, level=p.level, title=p.title_zh,
                         body=p.body, dedup_key=p.key, created_at=now, updated_at=now)
            for p in chunk
        ]).on_conflict(target=Notification.dedup_key, action="DO NOTHING").returning(
            Notification.id, Notification.dedup_key)
        written += [(r["id"], by_key[r["dedup_key"]]) for r in rows]
    groups: dict[tuple[str, str, str, bool], list[tuple[int, _Plan]]] = defaultdict(list)
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
        await Notification.update(values).where(_one_of(Notification.id, ids))
        updated += ids
        written += members
    waiting: set[tuple[int, str]] = set()
    if updated:  # an unsent row will send the new content: no second row
        waiting = {(r["notification"], r["channel"]) for r in await Outbox.select(
            Outbox.notification, Outbox.channel).where(
            _one_of(Outbox.notification, updated) & (Outbox.status == "pending") & (Outbox.attempts == 0))}
    rows: list[Outbox] = []
    for nid, p in written:
        if p.digest_at is not None:
            if (nid, "digest") not in waiting:
                rows.append(Outbox(notification=nid, channel="digest", next_attempt_at=p.digest_at))
        elif p.push_at is not None and (nid, "push") not in waiting:
            rows.append(Outbox(notification=nid, channel="push", next_attempt_at=p.push_at))
        if p.webhook:
            rows.append(Outbox(notification=nid, channel="webhook", next_attempt_at=now))
    for chunk in _chunks(rows):
        await Outbox.insert(*chunk)
    views = [AccessLog(firm=p.firm_id, viewer=p.user_id, viewer_role="bank_manager", bank=p.viewer_bank,
                       what=VIEW_INBOX, at=now)
             for _, p in written if p.viewer_bank is not None and p.firm_id is not None]
    for chunk in _chunks(views):  # the evidence is in the bank's inbox now: the firm sees who
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
    return _json_ready(body)


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
        plans: list[_Plan] = []
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
                plans.append(_Plan(
                    key=f"risk:{e.warning_id}:{w.user_id}" + (":closed" if closed else ""),
                    user_id=w.user_id, firm_id=e.firm_id,
                    kind="risk", level="blue" if closed else e.level, title_zh=title,
                    body=_risk_body(e, grades.get(e.firm_id), w.detail),
                    replace=e.event == "escalated", unread=e.event == "escalated",
                    push_at=None if w.daily_digest else (held or now),
                    digest_at=next_digest_at(now) if w.daily_digest else None,
                    webhook=webhook, viewer_bank=w.bank_id if w.detail else None))
        return await _write(plans, now)


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
    content = _json_ready({**body, "title_en": title_en})
    plans = [_Plan(key=f"{dedup_key}:{uid}", user_id=uid, firm_id=firm_id, kind=kind, level=level,
                   title_zh=title_zh, body=content, replace=True, unread=True, push_at=now)
             for uid in sorted(set(user_ids))]
    if not plans:
        return 0
    async with transaction():
        return await _write(plans, now)


# ---------------------------------------------------------------------------------------------
# Reading notifications

_NOTE_COLUMNS = (
    Notification.id, Notification.kind, Notification.level, Notification.title, Notification.body,
    Notification.firm, Notification.firm.uscc, Notification.created_at, Notification.updated_at,
    Notification.delivered_at, Notification.read_at,
)


def notification_out(row: dict[str, Any]) -> NotificationOut:
    """The API form of a notification row selected with ``_NOTE_COLUMNS`` (JSON loaded)."""
    body = dict(row["body"] or {})
    title_en = body.pop("title_en", row["title"])
    return NotificationOut(
        id=row["id"], kind=row["kind"], level=row["level"], title_zh=row["title"], title_en=title_en,
        body=body, firm_uscc=row["firm.uscc"], created_at=row["created_at"],
        updated_at=row["updated_at"], delivered_at=row["delivered_at"], read_at=row["read_at"],
    )


async def _notes_out(reader: Reader, rows: list[dict[str, Any]]) -> list[NotificationOut]:
    """Rows selected with ``_NOTE_COLUMNS``, as the reader may see them now (``bodies_now``)."""
    bodies = await bodies_now([(reader, r["firm"], r["body"] or {}) for r in rows])
    return [notification_out({**r, "body": b}) for r, b in zip(rows, bodies, strict=True)]


async def list_notifications(user: AuthUser, unread: bool | None = None, after_id: int | None = None,
                             limit: int = 50) -> list[NotificationOut]:
    """The user's notifications: newest first, or oldest first after ``after_id`` (polling)."""
    where = Notification.user == user.id
    if unread is True:
        where &= Notification.read_at.is_null()
    elif unread is False:
        where &= Notification.read_at.is_not_null()
    query = Notification.select(*_NOTE_COLUMNS)
    if after_id is not None:
        query = query.where(where & (Notification.id > after_id)).order_by(Notification.id)
    else:
        query = query.where(where).order_by(Notification.id, ascending=False)
    rows = await query.limit(limit).output(load_json=True)
    return await _notes_out(_reader(user), rows)


async def catch_up(user_id: int, after_id: int, limit: int = 500) -> list[NotificationOut]:
    """What a reconnecting stream missed after the notification ``after_id`` it saw last:
    notifications created after it, and older ones updated (escalated) since it was last
    updated; oldest change first, so the last one sent is the newest."""
    where = Notification.user == user_id
    last = await Notification.select(Notification.updated_at).where(
        (Notification.id == after_id) & where).first()
    if last is None:
        missed = where & (Notification.id > after_id)
    else:
        missed = where & ((Notification.id > after_id) | (Notification.updated_at > last["updated_at"]))
    rows = await Notification.select(*_NOTE_COLUMNS).where(missed).order_by(
        Notification.updated_at).order_by(Notification.id).limit(limit).output(load_json=True)
    if not rows:
        return []
    user = await User.select(User.role, User.bank, User.firm).where(User.id == user_id).first()
    if user is None:
        return []
    return await _notes_out(Reader(role=user["role"], bank_id=user["bank"], firm_id=user["firm"]), rows)


async def mark_read(user: AuthUser, notification_id: int) -> NotificationOut:
    row = await Notification.select(Notification.id, Notification.user, Notification.read_at).where(
        Notification.id == notification_id).first()
    if row is None or row["user"] != user.id:
        raise NotFoundException(t("notification_id: you have no notification {notification_id}", notification_id=notification_id))
    if row["read_at"] is None:
        await Notification.update({Notification.read_at: datetime.now(UTC)}).where(
            Notification.id == notification_id)
    fresh = await Notification.select(*_NOTE_COLUMNS).where(Notification.id == notification_id).output(
        load_json=True).first()
    return (await _notes_out(_reader(user), [fresh]))[0]


async def mark_all_read(user: AuthUser) -> MarkedRead:
    changed = await Notification.update({Notification.read_at: datetime.now(UTC)}).where(
        (Notification.user == user.id) & Notification.read_at.is_null()).returning(Notification.id)
    return MarkedRead(marked=len(changed))


async def unread_count(user: AuthUser) -> UnreadCount:
    return UnreadCount(unread=await Notification.count().where(
        (Notification.user == user.id) & Notification.read_at.is_null()))


# ---------------------------------------------------------------------------------------------
# Bank webhooks

def _address_kind(kind: str) -> Text | str:
    """An address class of ``alerts.netguard.blocked_reason``, for people."""
    known = {"unspecified": t("unspecified"), "loopback": t("loopback"), "link-local": t("link-local"),
             "multicast": t("multicast"), "private": t("private"), "reserved": t("reserved"),
             "non-public": t("non-public")}
    return known.get(kind, kind)


def _blocked_problem(msg: str) -> Text | str:
    """Why the webhook URL is refused (``BlockedTarget``'s English, after "url: "), for any reader."""
    if msg == "must be an http:// or https:// URL":
        return t("must be an http:// or https:// URL")
    if msg == "has no host":
        return t("has no host")
    # The URL parser's and the resolver's own words (English, library-internal: "Invalid IDNA
    # hostname ...", "Name or service not known") are not repeated to people.
    if re.fullmatch(r"is not a valid URL \((.*)\)", msg, re.S):
        return t("is not a valid URL")
    if m := re.fullmatch(r"the host (\S+) does not resolve \((.*)\)", msg, re.S):
        return t("the host {host} does not resolve", host=m[1])
    if m := re.fullmatch(r"the host (\S+) does not resolve", msg):
        return t("the host {host} does not resolve", host=m[1])
    if m := re.fullmatch(r"(\S+) is an? (\S+) address \((.*)\); webhooks may only go to public addresses", msg):
        return t("{host} is a {kind} address ({ip}); webhooks may only go to public addresses",
                 host=m[1], kind=_address_kind(m[2]), ip=m[3])
    if m := re.fullmatch(r"(\S+) resolves to an? (\S+) address \((.*)\); webhooks may only go to public addresses",
                         msg):
        return t("{host} resolves to a {kind} address ({ip}); webhooks may only go to public addresses",
                 host=m[1], kind=_address_kind(m[2]), ip=m[3])
    return msg  # a check added to the guard since: in its own words


async def set_bank_webhook(user: AuthUser, data: WebhookUpdate, allow: Sequence[str] = ()) -> WebhookOut:
    """Store the bank's webhook URL; a secret is generated (and shown once) if none is set.

    A URL whose host is or resolves to a non-public address (loopback, private, link-local,
    metadata ...) is refused unless ``allow`` (the operator's ``webhook_allow``) names it; a name
    that does not resolve yet is accepted, since every delivery checks again."""
    if user.bank_id is None:
        raise PermissionDeniedException(t("your account is not linked to a bank"))
    if data.url is not None:
        try:
            await check_url(data.url, allow, must_resolve=False)
        except BlockedTarget as exc:
            problem = _blocked_problem(str(exc).removeprefix("url: "))
            raise ClientException(t("url: {problem}", problem=problem),
                                  extra=[{"key": "url", "message": problem}]) from None
    bank = await Bank.select(Bank.webhook_secret).where(Bank.id == user.bank_id).first()
    if bank is None:
        raise NotFoundException(t("your bank no longer exists"))
    generated: str | None = None
    secret = data.secret or bank["webhook_secret"]
    if data.url is not None and secret is None:
        secret = generated = secrets.token_urlsafe(32)
    await Bank.update({Bank.webhook_url: data.url, Bank.webhook_secret: secret}).where(Bank.id == user.bank_id)
    return WebhookOut(bank_id=user.bank_id, url=data.url, secret=generated)


# ---------------------------------------------------------------------------------------------
# The outbox on the database (the store the relay in alerts.outbox works on)

_ENCODE = msgspec.json.Encoder().encode


class DbOutboxStore:
    """Claims due rows with a lease: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so relays in several
    processes never take the same row; an IMMEDIATE transaction on SQLite (one writer).

    What a claimed row sends is decided at the claim, not when it was queued (``bodies_now``): a
    push or webhook queued before the firm revoked goes out with public signals only. A detailed
    delivery to a bank is logged as a view of the firm once it is sent."""

    def __init__(self) -> None:
        self._views: dict[int, AccessLog] = {}  # outbox id -> the view its delivery will log

    async def claim(self, channel: str, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        due = (Outbox.status == "pending") & (Outbox.channel == channel) & (Outbox.next_attempt_at <= now)
        if not await Outbox.exists().where(due):  # the common case, without taking a write lock
            return []
        async with transaction():
            query = Outbox.select(Outbox.id).where(due).order_by(Outbox.next_attempt_at).order_by(
                Outbox.id).limit(limit)
            if db.on_postgres():
                query = query.lock_rows("UPDATE", skip_locked=True, of=(Outbox,))
            ids = [r["id"] for r in await query]
            if not ids:
                return []
            await Outbox.update({Outbox.attempts: Outbox.attempts + 1,
                                 Outbox.next_attempt_at: now + lease}).where(_one_of(Outbox.id, ids))
        rows = await Outbox.select(
            Outbox.id, Outbox.channel, Outbox.attempts, Outbox.notification.user.id,
            Outbox.notification.dedup_key, Outbox.notification.user.bank.webhook_url,
            Outbox.notification.user.bank.webhook_secret, Outbox.notification.id,
            Outbox.notification.kind, Outbox.notification.level, Outbox.notification.title,
            Outbox.notification.body, Outbox.notification.firm.uscc, Outbox.notification.created_at,
            Outbox.notification.updated_at, Outbox.notification.delivered_at,
            Outbox.notification.read_at, Outbox.notification.firm, Outbox.notification.user.role,
            Outbox.notification.user.bank, Outbox.notification.user.firm,
        ).where(_one_of(Outbox.id, ids)).order_by(Outbox.id).output(load_json=True)
        readers = [Reader(role=r["notification.user.role"], bank_id=r["notification.user.bank"],
                          firm_id=r["notification.user.firm"]) for r in rows]
        bodies = await bodies_now([(reader, r["notification.firm"], r["notification.body"] or {})
                                   for reader, r in zip(readers, rows, strict=True)])
        out: list[Delivery] = []
        for r, reader, body in zip(rows, readers, bodies, strict=True):
            if body.get("detail") and reader.bank_pair(r["notification.firm"]) is not None:
                self._views[r["id"]] = AccessLog(
                    firm=r["notification.firm"], viewer=r["notification.user.id"], viewer_role=reader.role,
                    bank=reader.bank_id, what=VIEW_WEBHOOK if r["channel"] == "webhook" else VIEW_PUSH,
                    at=now)
            note = notification_out({
                "id": r["notification.id"], "kind": r["notification.kind"], "level": r["notification.level"],
                "title": r["notification.title"], "body": body,
                "firm.uscc": r["notification.firm.uscc"], "created_at": r["notification.created_at"],
                "updated_at": r["notification.updated_at"], "delivered_at": r["notification.delivered_at"],
                "read_at": r["notification.read_at"],
            })
            if r["channel"] == "webhook":
                payload = _ENCODE({"delivery": f"{r['notification.dedup_key']}:{r['id']}",
                                   "notification": note})
                out.append(Delivery(
                    outbox_id=r["id"], channel="webhook", attempts=r["attempts"],
                    user_id=r["notification.user.id"], notification_id=note.id, payload=payload,
                    key=f"{r['notification.dedup_key']}:{r['id']}",
                    url=r["notification.user.bank.webhook_url"],
                    secret=r["notification.user.bank.webhook_secret"]))
            else:
                # Marked delivered at ``now`` once published (``sent`` gets the same ``now``), so
                # the pushed JSON equals what the database (and a catch-up) says afterwards.
                note = msgspec.structs.replace(note, delivered_at=now)
                out.append(Delivery(
                    outbox_id=r["id"], channel=r["channel"], attempts=r["attempts"],
                    user_id=r["notification.user.id"], notification_id=note.id, payload=_ENCODE(note),
                    key=f"{r['notification.dedup_key']}:{r['id']}"))
        return out

    async def sent(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        ids = [d.outbox_id for d in deliveries]
        pushed = sorted({d.notification_id for d in deliveries if d.channel == "push"})
        views = [v for v in (self._views.pop(i, None) for i in ids) if v is not None]
        async with transaction():
            await Outbox.update({Outbox.status: "sent", Outbox.last_error: ""}).where(_one_of(Outbox.id, ids))
            if pushed:
                await Notification.update({Notification.delivered_at: now}).where(
                    _one_of(Notification.id, pushed))
            for chunk in _chunks(views):
                await AccessLog.insert(*chunk)

    async def failed(self, delivery: Delivery, error: str, retry_at: datetime | None,
                     now: datetime) -> None:
        self._views.pop(delivery.outbox_id, None)  # nothing reached the bank: no view (a retry logs)
        values: dict[Any, Any] = {Outbox.last_error: error}
        if retry_at is None:
            values[Outbox.status] = "failed"
        else:
            values[Outbox.next_attempt_at] = retry_at
        await Outbox.update(values).where((Outbox.id == delivery.outbox_id) & (Outbox.status == "pending"))


# ---------------------------------------------------------------------------------------------
# Daily digest

async def daily_digest(as_of: datetime) -> int:
    """One digest notification per digest subscriber, listing what was held for it; pushed like
    any other. Safe to run twice: collected rows are marked sent, and a second run on the same
    day merges into that day's digest. Returns the number of digests written."""
    due = await Outbox.select(Outbox.id, Outbox.notification.id, Outbox.notification.user.id).where(
        (Outbox.channel == "digest") & (Outbox.status == "pending") & (Outbox.next_attempt_at <= as_of))
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in due:
        by_user[r["notification.user.id"]].append(r)
    day = local_date(as_of)
    written = 0
    for user_id, rows in sorted(by_user.items()):
        async with transaction():
            ids = [r["id"] for r in rows]
            claimed = await Outbox.update({Outbox.status: "sent", Outbox.attempts: Outbox.attempts + 1}).where(
                Outbox.id.is_in(ids) & (Outbox.status == "pending")).returning(Outbox.notification)
            note_ids = sorted({r["notification"] for r in claimed})
            if not note_ids:
                continue
            notes = await Notification.select(
                Notification.id, Notification.level, Notification.title, Notification.body,
                Notification.firm.uscc).where(Notification.id.is_in(note_ids)).order_by(
                Notification.id).output(load_json=True)
            key = f"digest:{day.isoformat()}:{user_id}"
            old = await Notification.select(Notification.body).where(
                Notification.dedup_key == key).output(load_json=True).first()
            items = {i["id"]: i for i in (old["body"]["items"] if old else [])}
            for n in notes:
                items[n["id"]] = {"id": n["id"], "level": n["level"], "title_zh": n["title"],
                                  "title_en": (n["body"] or {}).get("title_en", n["title"]),
                                  "uscc": n["firm.uscc"]}
            listed = sorted(items.values(), key=lambda i: i["id"])
            level, title_zh, title_en = digest_content(day, listed)
            await _write([_Plan(
                key=key, user_id=user_id, firm_id=None, kind="digest", level=level, title_zh=title_zh,
                body=_json_ready({"title_en": title_en, "date": day.isoformat(), "items": listed}),
                replace=True, unread=True, push_at=as_of)], as_of)
            await Notification.update({Notification.delivered_at: as_of}).where(
                Notification.id.is_in(note_ids))
            written += 1
    return written
