"""Guarantee circles among the guarantees in force, and who may see their members."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import pandas as pd

from scoring.graph import (
    build_network,
    find_circles,
)
from server.privacy import Group, narrowest
from server.risk.catalogue import (
    LEVEL_RANK,
)
from server.risk.frames import (
    latest_snapshot,
    load_guarantees,
    region_day,
)
from server.risk.schemas import (
    CircleMember,
    CircleOut,
    Circles,
    SystemicFirm,
)
from server.risk.warnings import bank_firms, consented_firms
from server.tables.consent import AccessLog
from server.tables.firms import Firm
from server.tables.risk import Warning
from server.users.security import AuthUser


async def circle_scope(user: AuthUser) -> set[int] | None:
    """Firms whose circle membership and amounts the user may see: every firm for an admin
    (the platform's operator, who sees any evaluation too; the views are logged); for a bank
    manager the firms that consented to the bank or applied to or borrow from it."""
    if user.role == "admin":
        return None
    if user.bank_id is None:
        return set()
    return await bank_firms(user.bank_id) | await consented_firms(user.bank_id)


async def circles(user: AuthUser, min_size: int, limit: int, min_group_size: int) -> Circles:
    """Guarantee circles among the guarantees active today, largest first, and the
    systemically important firms of the latest full scan.

    A bank manager sees members (with their most severe open warning) only for firms that
    consented to the bank or are its applicants or borrowers; other members are a count, and
    a circle's amounts are shown only when every member is visible or the hidden ones are at
    least ``min_group_size`` (K) firms. Admins see everything. Every member shown to anyone is
    logged in that firm's access log, as evaluations are."""
    day = region_day(None)
    scope = await circle_scope(user)
    guarantees = await load_guarantees()
    firms = await Firm.select(Firm.id, Firm.uscc, Firm.name)
    names = {r["uscc"]: r["name"] for r in firms}
    ids = {r["uscc"]: r["id"] for r in firms}

    def visible(u: str) -> bool:
        return scope is None or ids.get(u) in scope

    table = pd.DataFrame(columns=["circle_id", "size", "members", "guarantees", "amount_fen",
                                  "outside_amount_fen"])
    if len(guarantees):
        net = build_network(guarantees, None, as_of=day, firms=sorted(names))
        table = find_circles(net).table
    in_circles = int(table["size"].sum()) if len(table) else 0
    total = len(table)
    table = table[table["size"] >= min_size].head(limit)
    members = sorted({u for m in table["members"] for u in m if visible(u)})
    worst: dict[str, str] = {}
    if members:
        for r in await Warning.select(Warning.firm.uscc.as_alias("uscc"), Warning.level).where(
                Warning.closed_at.is_null() & Warning.firm.uscc.is_in(members)):
            if LEVEL_RANK[r["level"]] >= LEVEL_RANK.get(worst.get(r["uscc"], "blue"), 0):
                worst[r["uscc"]] = r["level"]
    out = []
    for c in table.itertuples(index=False):
        shown = [u for u in c.members if visible(u)]
        hidden = int(c.size) - len(shown)
        # Totals over hidden members are a statistic about firms that did not consent.
        amounts = hidden == 0 or narrowest(
            [Group("circle", str(c.circle_id), hidden)], min_group_size,
            viewer_in_group=False) is not None
        out.append(CircleOut(
            circle_id=int(c.circle_id), size=int(c.size), guarantees=int(c.guarantees),
            amount_yuan=int(c.amount_fen) // 100 if amounts else None,
            outside_amount_yuan=int(c.outside_amount_fen) // 100 if amounts else None,
            members=[CircleMember(uscc=u, name=names.get(u, u), worst_open_level=worst.get(u))
                     for u in shown],
            hidden_members=hidden))
    snap = await latest_snapshot("scan_full")
    top = [] if snap is None else snap["data"].get("details", {}).get("systemic", [])
    systemic = [
        SystemicFirm(uscc=s["uscc"], name=names.get(s["uscc"], s["uscc"]), debtrank=s["debtrank"],
                     firms_hit=s["firms_hit"], failed=s["failed"], calls_yuan=s["calls_fen"] // 100)
        for s in top if visible(s["uscc"])]
    await _log_views(user, [ids[u] for u in {*members, *(s.uscc for s in systemic)} if u in ids],
                     "circles")
    return Circles(as_of=day, circles_total=total, firms_in_circles=in_circles, circles=out,
                   systemic=systemic, systemic_as_of=None if snap is None else snap["as_of"],
                   systemic_hidden=len(top) - len(systemic),
                   members_scope="all" if scope is None else "consented_or_own_borrowers",
                   min_group_size=min_group_size)


async def _log_views(user: AuthUser, firm_ids: Iterable[int], what: str) -> None:
    """Views of firms' non-public data by anyone but their owner, in each firm's access log."""
    unique = sorted(set(firm_ids))
    if not unique or user.role == "owner":
        return
    now = datetime.now(UTC)
    await AccessLog.insert(*[AccessLog(firm=i, viewer=user.id, viewer_role=user.role,
                                       bank=user.bank_id, what=what, at=now) for i in unique])
