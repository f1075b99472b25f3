"""Watchlists: a subscriber's or a bank's subscriptions to firms (levels, digest, quiet hours),
and the watches a bank gets on its applicants and borrowers without asking."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from litestar.exceptions import (
    ClientException,
    NotFoundException,
    ValidationException,
)

from server.lookup import firm_by_uscc
from server.notifications.common import ACTIVE_APPLICATION, chunks, transaction
from server.notifications.events import LEVELS
from server.notifications.readers import detail_for
from server.notifications.schemas import (
    SubscriptionCreate,
    SubscriptionOut,
)
from server.tables.financing import LoanApplication
from server.tables.notifications import Subscription
from server.tables.users import User
from server.texts import t
from server.users.security import AuthUser

__all__ = ["automatic_watches", "ensure_bank_watch", "levels_of", "list_subscriptions",
           "subscribe", "unsubscribe"]

_SUB_COLUMNS = (
    Subscription.id, Subscription.firm.id, Subscription.firm.uscc, Subscription.firm.name,
    Subscription.levels, Subscription.kinds, Subscription.quiet_start, Subscription.quiet_end,
    Subscription.daily_digest, Subscription.automatic, Subscription.created_at,
)


async def _subscription_out(user: AuthUser, row: dict[str, Any]) -> SubscriptionOut:
    return SubscriptionOut(
        id=row["id"], uscc=row["firm.uscc"], firm_name=row["firm.name"],
        levels=levels_of(row["levels"]), kinds=list(row["kinds"] or []),
        quiet_start=row["quiet_start"], quiet_end=row["quiet_end"], daily_digest=row["daily_digest"],
        automatic=row["automatic"], detail=await detail_for(user, row["firm.id"]),
        created_at=row["created_at"],
    )


def levels_of(stored: str) -> list[str]:
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
        return len(await automatic_watches({(app["firm"], app["product.bank.id"])}))


async def automatic_watches(involved: set[tuple[int, int]]) -> list[dict[str, Any]]:
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
    for chunk in chunks(firms):
        have |= {(r["firm"], r["user"]) for r in await Subscription.select(
            Subscription.firm, Subscription.user).where(Subscription.firm.is_in(list(chunk)))}
    now = datetime.now(UTC)
    missing = sorted({(f, u) for f, b in involved for u in managers.get(b, []) if (f, u) not in have})
    for chunk in chunks(missing):
        await Subscription.insert(*[
            Subscription(user=u, firm=f, levels=",".join(LEVELS), kinds=[], automatic=True, created_at=now)
            for f, u in chunk
        ])
    return [{"firm": f, "user": u} for f, u in missing]
