"""A firm's ties, for the guarantee circle picture (担保圈, as 信用上虞 draws it): the firm as
the mother cell; the firms tied to it by guarantees in force, one and two links away, and
through a person holding a role in both, as child cells coloured by their warning level; the
guarantees between them with their amounts; and the path of the latest open contagion warning
through the firm.

Who may look follows the firm's evaluation (its owner, a bank while the firm's consent to it
is in force, admins), and every view by anyone but the owner is in the firm's access log as
``ties``. Firms two links away (a guarantee between two other firms) are named only to admins
and to a bank that may see them anyway; otherwise they are counted in ``hidden``. A handful of set-based queries, however many firms are tied: the picture is read on
a phone, often. Kept out of :mod:`server.risk.circles`, which lists every circle.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar.exceptions import PermissionDeniedException
from piccolo.columns.combination import Combination, WhereRaw

from server.consent.services import consented_pairs
from server.lookup import firm_by_uscc
from server.risk.circles import circle_scope
from server.risk.scan import CONTAGION_CODE, LEVEL_RANK
from server.risk.schemas import ContagionPath, FirmTies, TieEdge, TieFirm, TiePerson
from server.tables.consent import AccessLog
from server.tables.firms import Firm, FirmPerson, Guarantee
from server.tables.risk import Warning
from server.texts import t
from server.users.security import AuthUser

__all__ = ["MAX_FIRMS", "VIEW", "firm_ties", "mask_name"]

#: Child cells at most: what a phone's picture can hold; the rest are counted in ``hidden``.
MAX_FIRMS = 24
#: ``AccessLog.what`` of a view of the picture by anyone but the firm's owner.
VIEW = "ties"
_CHUNK = 500  # ids per IN list (SQLite's parameter limit)
_LOCAL = ZoneInfo("Asia/Shanghai")  # guarantees are in force by the region's calendar
_RANK = {"guarantee": 0, "person": 1}  # at equal hops and amounts, guarantee partners first


def mask_name(name: str) -> str:
    """A person's name as the picture shows it: the first character, then one ``*`` for each
    other (张三 → 张*): enough to recognise one's own people, not to identify strangers."""
    name = (name or "").strip()
    return name[:1] + "*" * (len(name) - 1)


def _chunks(ids: Collection[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]


def _guarantee_in_force(day: date) -> Combination:
    """The financing exposure's rule: started on or before ``day`` and ending on or after it."""
    return (Guarantee.start_date <= day) & (Guarantee.end_date >= day)


def _role_in_force(day: date) -> Combination:
    return (FirmPerson.start_date <= day) & (
        FirmPerson.end_date.is_null() | (FirmPerson.end_date >= day))


async def _authorise(viewer: AuthUser, firm_id: int) -> None:
    """The evaluation's rule, consent read on every request (a revoke refuses the next one)."""
    if viewer.role == "owner":
        if viewer.firm_id != firm_id:
            raise PermissionDeniedException(t("owners see only their own firm's ties"))
    elif viewer.role == "bank_manager":
        if viewer.bank_id is None or not await consented_pairs([(firm_id, viewer.bank_id)]):
            raise PermissionDeniedException(t(
                "no active consent: the firm has not granted your bank access to its evaluation and ties"))
    elif viewer.role != "admin":
        raise PermissionDeniedException(t(
            "only the firm's owner, consented banks and admins see a firm's ties"))


async def _guarantees_touching(firm_ids: Collection[int], day: date) -> list[dict[str, Any]]:
    """Guarantees in force where one of ``firm_ids`` is guarantor or guaranteed."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(firm_ids):
        rows += await Guarantee.select(
            Guarantee.guarantor, Guarantee.guaranteed, Guarantee.amount_fen,
        ).where(_guarantee_in_force(day)
                & (Guarantee.guarantor.is_in(chunk) | Guarantee.guaranteed.is_in(chunk)))
    return [r for r in rows if r["guarantor"] != r["guaranteed"]]


async def _people(firm_id: int, day: date) -> tuple[dict[int, list[str]], dict[int, str],
                                                    dict[int, set[int]]]:
    """People with a role in force in the firm and in other firms: their roles in the firm,
    their names, and the other firms, by person id."""
    roles: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for r in await FirmPerson.select(
            FirmPerson.person, FirmPerson.person.name.as_alias("name"), FirmPerson.role,
    ).where((FirmPerson.firm == firm_id) & _role_in_force(day)).order_by(FirmPerson.id):
        held = roles.setdefault(r["person"], [])
        if r["role"] not in held:
            held.append(r["role"])
        names[r["person"]] = r["name"]
    elsewhere: dict[int, set[int]] = defaultdict(set)
    for chunk in _chunks(roles):
        for r in await FirmPerson.select(FirmPerson.person, FirmPerson.firm).where(
                FirmPerson.person.is_in(chunk) & (FirmPerson.firm != firm_id)
                & _role_in_force(day)):
            elsewhere[r["person"]].add(r["firm"])
    return roles, names, dict(elsewhere)


async def _worst_levels(firm_ids: Collection[int]) -> dict[int, str]:
    """Each firm's most severe open warning level: the public signal, nothing of the detail."""
    worst: dict[int, str] = {}
    for chunk in _chunks(firm_ids):
        for r in await Warning.select(Warning.firm, Warning.level).where(
                Warning.closed_at.is_null() & Warning.firm.is_in(chunk)):
            if r["level"] not in LEVEL_RANK:
                continue
            seen = worst.get(r["firm"])
            if seen is None or LEVEL_RANK[r["level"]] > LEVEL_RANK[seen]:
                worst[r["firm"]] = r["level"]
    return worst


async def _edges(firm_ids: Collection[int], usccs: dict[int, str], day: date) -> list[TieEdge]:
    """Guarantees in force among the firms shown, summed by pair (fen, then yuan rounded down)."""
    ids = sorted(firm_ids)
    sums: dict[tuple[int, int], int] = defaultdict(int)
    for r in await Guarantee.select(
            Guarantee.guarantor, Guarantee.guaranteed, Guarantee.amount_fen,
    ).where(_guarantee_in_force(day) & Guarantee.guarantor.is_in(ids)
            & Guarantee.guaranteed.is_in(ids)):
        if r["guarantor"] != r["guaranteed"]:
            sums[(r["guarantor"], r["guaranteed"])] += int(r["amount_fen"])
    edges = [TieEdge(guarantor=usccs[a], guaranteed=usccs[b], amount_yuan=fen // 100)
             for (a, b), fen in sums.items()]
    return sorted(edges, key=lambda e: (-e.amount_yuan, e.guarantor, e.guaranteed))


_PATH_COLUMNS = (Warning.id, Warning.level, Warning.evidence, Warning.opened_at)


def _evidence(row: dict[str, Any]) -> dict[str, Any]:
    evidence = row["evidence"]
    if isinstance(evidence, str | bytes):  # either engine, whatever load_json did
        evidence = json.loads(evidence or "{}")
    return evidence or {}


async def _contagion_path(firm_id: int, uscc: str) -> ContagionPath | None:
    """The firm's own open contagion warning, else the latest open one whose path runs through
    the firm (a red firm's spreading, or a link in another firm's chain)."""
    open_c01 = (Warning.rule_code == CONTAGION_CODE) & Warning.closed_at.is_null()
    own = await Warning.select(*_PATH_COLUMNS).where(open_c01 & (Warning.firm == firm_id)).order_by(
        Warning.opened_at, ascending=False).order_by(Warning.id, ascending=False).first()
    found = None
    if own is not None and uscc in _evidence(own).get("path", []):
        found = own
    else:
        # JSON is not queryable alike on both engines: narrow by the text, confirm in Python.
        # A USCC has no LIKE wildcards, and it is quoted in the stored JSON.
        rows = await Warning.select(*_PATH_COLUMNS).where(open_c01).where(
            WhereRaw('CAST("risk_warning"."evidence" AS TEXT) LIKE {}', f'%"{uscc}"%'),
        ).order_by(Warning.opened_at, ascending=False).order_by(Warning.id, ascending=False)
        found = next((r for r in rows if uscc in _evidence(r).get("path", [])), None)
    if found is None:
        return None
    evidence = _evidence(found)
    path = [str(u) for u in evidence.get("path", [])]
    names = [str(n) for n in evidence.get("path_names", path)]
    figures = evidence.get("figures", {})
    return ContagionPath(
        warning_id=found["id"], level=found["level"],
        source_uscc=str(figures.get("source_uscc") or path[0]),
        source_name=str(figures.get("source_name") or names[0]),
        usccs=path, names=names,
        amounts_yuan=[int(a) // 100 for a in evidence.get("path_amounts_fen", [])],
        raised_at=found["opened_at"])


async def firm_ties(uscc: str, viewer: AuthUser, today: date | None = None) -> FirmTies:
    """The firm's guarantee circle picture on ``today`` (default: today in Asia/Shanghai), if
    the viewer may see the firm's evaluation; views by anyone but the owner are logged."""
    firm = await firm_by_uscc(uscc)
    mother = firm["id"]
    await _authorise(viewer, mother)
    day = today or datetime.now(_LOCAL).date()

    # One link: who stands behind the firm's loans, and whose loans the firm stands behind.
    gives: dict[int, int] = defaultdict(int)  # partner -> fen it guarantees for the firm
    receives: dict[int, int] = defaultdict(int)  # partner -> fen the firm guarantees for it
    for g in await _guarantees_touching([mother], day):
        if g["guaranteed"] == mother:
            gives[g["guarantor"]] += int(g["amount_fen"])
        else:
            receives[g["guaranteed"]] += int(g["amount_fen"])
    partners = set(gives) | set(receives)
    # Two links: partners' partners, weighed by the guarantees tying them to the partners.
    chain: dict[int, int] = defaultdict(int)
    for g in await _guarantees_touching(partners, day):
        for near, far in ((g["guarantor"], g["guaranteed"]), (g["guaranteed"], g["guarantor"])):
            if near in partners and far != mother and far not in partners:
                chain[far] += int(g["amount_fen"])
    # A guarantee two links away is between two other firms: their data, not this firm's. Only
    # an admin sees every such firm, a bank those it may see anyway (consented to it, or its
    # applicants and borrowers, as in the circles route); the rest are counted, not named.
    scope = None if viewer.role == "admin" else (
        await circle_scope(viewer) if viewer.role == "bank_manager" else set())
    withheld = 0 if scope is None else sum(1 for f in chain if f not in scope)
    if scope is not None:
        chain = defaultdict(int, {f: fen for f, fen in chain.items() if f in scope})
    roles, person_names, elsewhere = await _people(mother, day)
    via_person = set().union(*elsewhere.values()) - partners - set(chain) - {mother}

    # (hops, kind, fen) per tied firm; nearest, then largest, then the older row, first
    tied: dict[int, tuple[int, str, int]] = {
        **{f: (2, "guarantee", fen) for f, fen in chain.items()},
        **{f: (1, "person", 0) for f in via_person},
        **{p: (1, "guarantee", gives.get(p, 0) + receives.get(p, 0)) for p in partners},
    }
    order = sorted(tied, key=lambda f: (tied[f][0], _RANK[tied[f][1]], -tied[f][2], f))
    shown = order[:MAX_FIRMS]

    ids = [mother, *shown]
    rows = {r["id"]: r for r in await Firm.select(Firm.id, Firm.uscc, Firm.name).where(
        Firm.id.is_in(ids))}
    usccs = {i: rows[i]["uscc"] for i in ids}
    levels = await _worst_levels(ids)

    def cell(f: int) -> TieFirm:
        hops, kind, _ = tied[f]
        if hops == 2:
            relation = "chain"
        elif kind == "person":
            relation = "person"
        elif f in gives and f in receives:
            relation = "both"
        else:
            relation = "guarantor" if f in gives else "guaranteed"
        return TieFirm(uscc=usccs[f], name=rows[f]["name"], level=levels.get(f), hops=hops,
                       relation=relation, gives_yuan=gives.get(f, 0) // 100,
                       receives_yuan=receives.get(f, 0) // 100)

    people = []
    for person in sorted(p for p in roles if elsewhere.get(p)):
        people.append(TiePerson(
            key=f"p{len(people) + 1}", name=mask_name(person_names[person]), roles=roles[person],
            firms=[usccs[f] for f in shown if f in elsewhere[person]]))
    answer = FirmTies(
        as_of=day,
        firm=TieFirm(uscc=firm["uscc"], name=firm["name"], level=levels.get(mother), hops=0,
                     relation="self"),
        firms=[cell(f) for f in shown], people=people, edges=await _edges(ids, usccs, day),
        path=await _contagion_path(mother, firm["uscc"]), hidden=len(order) - len(shown) + withheld)
    if viewer.role != "owner":
        await AccessLog.insert(AccessLog(
            firm=mother, viewer=viewer.id, viewer_role=viewer.role, bank=viewer.bank_id,
            what=VIEW, at=datetime.now(UTC))).run()
    return answer
