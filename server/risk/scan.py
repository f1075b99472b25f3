"""The warning scan: reads the frames, lets :mod:`scoring.risk` evaluate the rules and reconcile
them with the warnings open, spreads the distress of red firms through the guarantee network
with DebtRank (:mod:`scoring.graph`) and writes every raise, update and close, the
notifications of the changes that matter and a snapshot of the scan in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from litestar.exceptions import ValidationException
from piccolo.engine.base import Engine

from scoring.graph import (
    GuaranteeNetwork,
    build_network,
    capital_buffer,
    contagion,
    expected_fund_draw,
    systemic_importance,
)
from scoring.records import FIRM_COLUMNS, RECORD_KINDS
from scoring.risk import (
    RULES,
    Finding,
    Reconciliation,
    RedPartners,
    Update,
    evaluate,
    reconcile,
    red_firms,
    runnable,
)
from scoring.risk.rules import render
from server import db
from server.audit.services import Actor, record
from server.cluster import stream_parts
from server.engines import url_of
from server.risk.catalogue import (
    CONTAGION_CLEAR,
    CONTAGION_CODE,
    CONTAGION_KIND,
    CONTAGION_MESSAGE,
    LEVEL_RANK,
    MIN_DISTRESS,
    contagion_level,
    kind_of,
    titles,
)
from server.risk.frames import (
    load_guarantees,
    load_open_warnings,
    load_relations,
    load_scores,
    region_day,
    to_json,
)
from server.risk.passes import STORE_PART_FIRMS, in_two_passes
from server.risk.schemas import (
    ScanOut,
    ScanRequest,
)
from server.scores.frames import (
    PART_RECORDS,
    firms_per_part,
    in_parts,
    load_firms,
    load_records,
    records_in_parts,
)
from server.settings import Settings
from server.tables.firms import Firm
from server.tables.fund import FundLedger
from server.tables.risk import RiskSnapshot, Warning
from server.tables.scores import ScoreHistory
from server.texts import t

log = logging.getLogger("xinbao.risk")

#: A scan of more firms than this runs as a full scan (one pass is cheaper than many IN lists).
INCREMENTAL_LIMIT = 5_000
#: Days of score history the rating rules read (their 90-day look-back plus the score in
#: force before it, with monthly scoring and a margin).
SCORE_DAYS = 90 + 186
#: Keyed advisory lock serialising scans on PostgreSQL (SQLite's IMMEDIATE does it there).
_SCAN_LOCK = 5_141_705


# ---------------------------------------------------------------------------------------------
# the scan


@dataclass(slots=True)
class ScanResult:
    """What one scan did. ``fund_draw_fen`` is the expected draw on the guarantee fund from
    the covered loans of red and contagion-hit firms; ``debtrank`` the share of the region's
    capital DebtRank says the red firms' failure would cost the others."""

    as_of: date
    scope: str  # full / incremental
    firms: int
    raised: int = 0
    updated: int = 0
    escalated: int = 0
    closed: int = 0
    notified: int = 0
    red_firms: int = 0
    contagion_firms: int = 0
    lost_cover: int = 0
    debtrank: float = 0.0
    fund_draw_fen: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def _neighbours(subset: set[str], guarantees: pd.DataFrame, relations: pd.DataFrame,
                day: date) -> set[str]:
    """Firms whose contagion rules a change of ``subset`` can change: guarantee partners and
    firms sharing a person with them, on ties active on ``day`` (or starting later: a partner
    may become red before they start, harmless to include)."""
    ts = pd.Timestamp(day)
    out: set[str] = set()
    if len(guarantees):
        g = guarantees[guarantees["end_date"].isna() | (guarantees["end_date"] > ts)]
        a, b = g["guarantor_uscc"].astype(str), g["guaranteed_uscc"].astype(str)
        out |= set(b[a.isin(subset)]) | set(a[b.isin(subset)])
    if len(relations):
        r = relations[relations["end_date"].isna() | (relations["end_date"] > ts)]
        people = set(r.loc[r["uscc"].isin(subset), "person_id"])
        out |= set(r.loc[r["person_id"].isin(people), "uscc"].astype(str))
    return out - subset


def _reachable(exposure: Any, start: np.ndarray) -> np.ndarray:
    """Nodes reachable from ``start`` along a CSR adjacency (``start`` included)."""
    seen = np.zeros(exposure.shape[0], dtype=bool)
    seen[start] = True
    front = np.asarray(start, dtype=np.int64)
    while len(front):
        nxt = np.unique(exposure[front].indices)
        front = nxt[~seen[nxt]]
        seen[front] = True
    return np.flatnonzero(seen)


_STATEMENT = "financial_statement"


def _record_kinds(rules: Iterable[str]) -> tuple[str, ...]:
    """The department record kinds the rules name among their sources (the others, such as
    ``guarantee`` and ``relation``, are registries the scan hands over itself)."""
    return tuple(sorted({s for code in rules for s in RULES[code].sources if s in RECORD_KINDS}))


def _network(guarantees: pd.DataFrame, firms: pd.DataFrame, red: dict[str, date],
             day: date) -> tuple[GuaranteeNetwork, set[str]]:
    """The guarantee network on ``day`` and the firms the red firms' distress can reach."""
    net = build_network(guarantees, None, as_of=day, firms=firms)
    start = net.usccs.get_indexer(sorted(red))
    reach = net.usccs[_reachable(net.guarantees.T.tocsr(), start[start >= 0])]
    return net, set(reach.astype(str))


def _capital(firms: pd.DataFrame, need: set[str], statements: pd.DataFrame,
             day: date) -> pd.Series:
    """Loss-absorbing capital: equity of the latest statement for the firms distress reaches,
    registered capital for the rest (whom DebtRank's value weights alone read)."""
    reached = firms["uscc"].isin(need)
    return pd.concat([capital_buffer(firms[~reached]),
                      capital_buffer(firms[reached], statements, day)])


@dataclass(slots=True)
class _Contagion:
    findings: list[Finding]
    distress: dict[str, float]  # every firm DebtRank touched, red sources at 1.0
    lost_cover: int
    debtrank: float


def _path_text(names: list[str]) -> str:
    return " → ".join(names)


def _contagion_findings(net: GuaranteeNetwork, names: dict[str, str], red: dict[str, date],
                        capital: pd.Series) -> _Contagion:
    """DebtRank from the red firms: one C01 finding per firm it distresses (red firms
    themselves excluded: they have their own red warnings)."""
    result = contagion(net, sorted(red), capital, min_distress=MIN_DISTRESS)
    found: list[Finding] = []
    for row in result.firms.itertuples(index=False):
        if row.source:
            continue
        distress = round(float(row.distress), 4)
        path = [str(u) for u in row.path]
        amounts = [int(a) for a in row.path_amounts_fen]
        path_names = [names.get(u, u) for u in path]
        figures = {"distress": distress, "exposure_fen": int(row.exposure_fen),
                   "loss_fen": int(row.loss_fen), "capital_loss_fen": int(row.capital_loss_fen),
                   "hops": int(row.hops), "source_uscc": str(row.source_uscc),
                   "source_name": names.get(str(row.source_uscc), str(row.source_uscc))}
        evidence = {
            "figures": figures, "path": path, "path_names": path_names,
            "path_amounts_fen": amounts,
            "records": [{"kind": "guarantee", "guarantor_uscc": path[k + 1],
                         "guaranteed_uscc": path[k], "amount_fen": amounts[k]}
                        for k in range(len(amounts))],
        }
        values = {**figures, "path_text": _path_text(path_names)}
        found.append(Finding(
            uscc=str(row.uscc), rule_code=CONTAGION_CODE, level=contagion_level(distress),
            kind=CONTAGION_KIND, evidence=evidence, message_zh=render(CONTAGION_MESSAGE[0], values),
            message_en=render(CONTAGION_MESSAGE[1], values), clear_zh=CONTAGION_CLEAR[0],
            clear_en=CONTAGION_CLEAR[1], first_seen=red.get(str(row.source_uscc))))
    distress = dict(zip(result.firms["uscc"].astype(str),
                        result.firms["distress"].astype(float), strict=True))
    return _Contagion(found, distress, len(result.lost_cover), float(result.debtrank))


async def _fund_draw(distress: dict[str, float], red: Iterable[str],
                     ids: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    """Expected draw on the guarantee fund: each open cover of a red or contagion-hit firm,
    fund share x outstanding cover x the chance it defaults, ``1 - (1 - PD)(1 - distress)``
    (its latest score's PD; red firms at distress 1)."""
    hit = {**distress, **dict.fromkeys(red, 1.0)}
    firm_ids = {ids[u]: u for u in hit if u in ids}
    if not firm_ids:
        return 0, []
    closed = {r["application"] for r in await FundLedger.select(FundLedger.application).where(
        FundLedger.kind.is_in(["release", "claim"]) & FundLedger.application.is_not_null())}
    covers = [c for c in await FundLedger.select(
        FundLedger.application, FundLedger.amount_fen,
        FundLedger.application.firm.as_alias("firm"),
        FundLedger.application.fund_share_pct.as_alias("share"),
    ).where((FundLedger.kind == "cover") & FundLedger.application.firm.is_in(sorted(firm_ids)))
        if c["application"] not in closed]
    if not covers:
        return 0, []
    pds: dict[int, float] = {}
    for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.pd).where(
            ScoreHistory.firm.is_in(sorted({c["firm"] for c in covers}))).order_by(
            ScoreHistory.as_of).order_by(ScoreHistory.id):
        pds[r["firm"]] = float(r["pd"])  # the latest wins
    draw = expected_fund_draw(
        [min(1.0, hit[firm_ids[c["firm"]]]) for c in covers],
        [int(c["amount_fen"]) for c in covers],
        [min(1.0, max(0.0, c["share"] / 100)) for c in covers],
        base_pd=[min(1.0, max(0.0, pds.get(c["firm"], 0.0))) for c in covers])
    per_firm: dict[str, int] = {}
    for c, fen in zip(covers, draw.per_firm_fen.tolist(), strict=True):
        u = firm_ids[c["firm"]]
        per_firm[u] = per_firm.get(u, 0) + int(fen)
    top = sorted(per_firm.items(), key=lambda kv: -kv[1])[:20]
    return draw.total_fen, [{"uscc": u, "draw_fen": fen} for u, fen in top]


async def _executemany(tx: Any, sql: str, rows: list[tuple]) -> None:
    """Many rows through the transaction's own connection (one round trip per chunk, not one
    query per row); ``?`` placeholders on either engine."""
    if not rows:
        return
    if db.on_postgres():
        sql = db.dollar_params(sql)
    await tx.connection.executemany(sql, rows)


@dataclass(slots=True)
class _Change:
    """One warning written by the scan, as a notification needs it."""

    firm_id: int
    uscc: str
    rule_code: str
    level: str
    kind: str
    message_zh: str
    message_en: str
    evidence: dict[str, Any]
    event: str  # raised / escalated / closed
    warning_id: int = 0


async def _apply(tx: Any, plan: Reconciliation, ids: dict[str, int], now: datetime,
                 result: ScanResult) -> list[_Change]:
    """Writes one reconciliation: inserts, changed updates, closes; returns the changes to
    notify (raised, escalated, closed; not evidence-only updates)."""
    changes: list[_Change] = []
    inserts = []
    for f in plan.to_raise:
        inserts.append((ids[f.uscc], f.rule_code, f.level, to_json(f.evidence), now, now,
                        f.kind, f.first_seen, f.message_zh, f.message_en))
        changes.append(_Change(ids[f.uscc], f.uscc, f.rule_code, f.level, f.kind, f.message_zh,
                               f.message_en, f.evidence, "raised"))
    await _executemany(tx, "INSERT INTO risk_warning (firm, rule_code, level, evidence, "
                       "opened_at, updated_at, kind, first_seen, message_zh, message_en) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", inserts)
    result.raised += len(inserts)

    updates = []
    for u in plan.to_update:
        if not _changed(u):
            continue
        w, f = u.warning, u.finding
        updates.append((f.level, to_json(f.evidence), f.kind, f.first_seen, f.message_zh,
                        f.message_en, now, w["id"]))
        if LEVEL_RANK[f.level] > LEVEL_RANK.get(w["level"], 0):
            result.escalated += 1
            changes.append(_Change(w["firm"], f.uscc, f.rule_code, f.level, f.kind,
                                   f.message_zh, f.message_en, f.evidence, "escalated",
                                   w["id"]))
    await _executemany(tx, "UPDATE risk_warning SET level = ?, evidence = ?, kind = ?, "
                       "first_seen = ?, message_zh = ?, message_en = ?, updated_at = ? "
                       "WHERE id = ?", updates)
    result.updated += len(updates)

    closes = []
    for c in plan.to_close:
        w = c.warning
        evidence = {**(w.get("evidence") or {}),
                    "closed": {"on": c.closed_at.isoformat(), "reason_zh": c.reason_zh,
                               "reason_en": c.reason_en}}
        closes.append((now, now, to_json(evidence), w["id"]))
        title_zh, title_en = titles(w["rule_code"])
        changes.append(_Change(w["firm"], w["uscc"], w["rule_code"], w["level"],
                               w.get("kind") or kind_of(w["rule_code"]),
                               f"{title_zh}已解除：{c.reason_zh}",
                               f"{title_en} cleared: {c.reason_en}", evidence, "closed", w["id"]))
    await _executemany(tx, "UPDATE risk_warning SET closed_at = ?, updated_at = ?, evidence = ? "
                       "WHERE id = ?", closes)
    result.closed += len(closes)
    return changes


def _changed(u: Update) -> bool:
    """Evidence or level differ, or the date the condition began moved."""
    return u.changed or u.warning.get("first_seen") != u.finding.first_seen



async def _notify(changes: list[_Change], names: dict[int, str], now: datetime) -> int:
    """The notification contract, inside the scan's transaction (the outbox rows commit or
    roll back with the warnings)."""
    if not changes:
        return 0
    from server.notifications.events import RiskEvent
    from server.notifications.fanout import notify_risk_events

    events = []
    for c in changes:
        title_zh, title_en = titles(c.rule_code)
        events.append(RiskEvent(
            firm_id=c.firm_id, uscc=c.uscc, firm_name=names.get(c.firm_id, c.uscc),
            rule_code=c.rule_code, level=c.level, kind=c.kind, title_zh=title_zh,
            title_en=title_en, message_zh=c.message_zh, message_en=c.message_en,
            evidence=c.evidence, event=c.event, warning_id=c.warning_id, at=now))
    return int(await notify_risk_events(events)) + await _note_departments(events)


#: Warnings that say a department's own data is in doubt: the department whose operators are
#: asked to check it (issue 15: persistent inconsistency is a note to the department).
DEPARTMENT_CHECKS: dict[str, str] = {"R64_TAX_UNDER_DECLARED": "tax"}


async def _note_departments(events: list[Any]) -> int:
    """A note to the operators of the department whose data a newly raised warning doubts: the
    firm and what its own feed shows (not the other departments' figures), once per warning."""
    from server.notifications.fanout import notify_users
    from server.tables.ingest import Department
    from server.tables.users import User

    written = 0
    for e in events:
        department = DEPARTMENT_CHECKS.get(e.rule_code)
        if department is None or e.event != "raised":
            continue
        operators = [r["id"] for r in await User.select(User.id).where(
            (User.role == "dept_operator") & (User.is_active == True)  # noqa: E712
            & User.department.is_in(Department.select(Department.id).where(Department.code == department)))]
        if not operators:
            continue
        figures = (e.evidence or {}).get("figures", {})
        change = figures.get("tax_change")
        shown_zh = f"，增值税较上年同期{change:+.0%}" if isinstance(change, int | float) else ""
        shown_en = f" (VAT {change:+.0%} on a year earlier)" if isinstance(change, int | float) else ""
        written += await notify_users(
            operators, kind="data_check", level="yellow",
            title_zh=f"请核实申报数据：{e.firm_name}的纳税申报与其他部门数据持续不一致{shown_zh}",
            title_en=f"Please check the declarations of {e.firm_name}: its tax persistently disagrees with "
                     f"other departments' data{shown_en}",
            body={"uscc": e.uscc, "rule_code": e.rule_code, "warning_id": e.warning_id,
                  "tax_change": change, "since_month": figures.get("since_month")},
            dedup_key=f"data_check:{e.warning_id}", firm_id=e.firm_id)
    return written


async def scan(engine: Engine, settings: Settings, as_of: date | datetime | None = None,
               firm_ids: Collection[int] | None = None, *,
               part_records: int = PART_RECORDS, from_store: bool = True) -> ScanResult:
    """Evaluate the warning rules as of ``as_of`` for every firm (``firm_ids`` None) or some,
    spread red firms' distress through guarantees, and write the outcome (see the module
    docstring). Safe to run twice: a second run finds nothing new to raise.

    Each part is read in two passes (``server.risk.passes``, ``from_store``): the monthly
    feeds from the feature store, then every record of only the firms that the rules reading
    those feeds' rows found; on a Dask cluster each worker reads its own parts so
    (``server.risk.distributed``). ``from_store=False`` reads every record of each part, and
    on a cluster hands the parts to the workers as they are read; the findings are the same.

    An incremental scan also re-evaluates the contagion rules of the firms tied to the given
    ones (their red partners may have changed) and reads the red status of every other firm
    from its open warnings; DebtRank always runs over the whole network. The firms' own rules
    run in parts of about ``part_records`` records (``server.scores.frames.PART_RECORDS``):
    every rule reads only its own firm's records, so the parts find what one pass finds, and
    the scan's memory follows the part, not the records per firm. With
    ``settings.dask_scheduler`` set, the parts of a full scan, or of a scan of more than one
    part, are evaluated by the cluster's workers as they are read
    (``server.cluster.stream_parts``); the contagion rules and DebtRank, one graph computation
    over the statements, stay here.
    """
    started = time.perf_counter()
    day = region_day(as_of)
    firms = await load_firms(engine)
    ids = dict(zip(firms["uscc"].astype(str), firms["id"].astype(int), strict=True))
    names_by_id = dict(zip(firms["id"].astype(int), firms["name"].astype(str), strict=True))
    subset: set[str] | None = None
    if firm_ids is not None:
        wanted = {int(i) for i in firm_ids}
        subset = {u for u, i in ids.items() if i in wanted}
        if len(subset) > INCREMENTAL_LIMIT:
            subset = None
    result = ScanResult(as_of=day, scope="full" if subset is None else "incremental",
                        firms=len(ids) if subset is None else len(subset))
    if subset is not None and not subset:
        return result

    guarantees = await load_guarantees()
    relations = await load_relations()
    frame = firms[list(FIRM_COLUMNS)]
    tied = None if subset is None else subset | _neighbours(subset, guarantees, relations, day)
    has_scores = await ScoreHistory.exists()
    scores = await load_scores(day - timedelta(days=SCORE_DAYS),
                               None if subset is None else [ids[u] for u in subset])
    base_rules = runnable(scores=has_scores, red_partners=False)
    contagion_rules = [r.code for r in RULES.values() if r.kind == "contagion"]

    # The firm's own rules, part by part: each part's records read, evaluated and let go. The
    # rules and DebtRank are numpy work: in a worker thread, so the API stays responsive while
    # a scan runs after an ingested batch.
    universe = (sorted(subset) if subset is not None
                else list(pd.unique(frame["uscc"].astype(str))))
    parts = in_parts(universe, await firms_per_part(engine, part_records))
    result.details["parts"] = len(parts)
    found: list[Finding] = []
    if settings.dask_scheduler and (subset is None or len(parts) > 1) and from_store:
        # On the cluster (a full scan, or a batch's firms of more than one part): each worker
        # reads its own parts, in the two passes, and evaluates them; this process reads none.
        from server.risk.distributed import scan_on_dask

        found += await asyncio.to_thread(scan_on_dask, settings.dask_scheduler, url_of(engine), parts, frame,
                                         day, scores, base_rules)
        result.details.update(dask=True, passes=2)
    elif settings.dask_scheduler and (subset is None or len(parts) > 1):
        # Every record: this process reads the parts and hands each to a worker as it comes;
        # the workers evaluate, so the reading and the rules overlap.
        reading = records_in_parts(engine, day, parts, with_keys=True, every_firm=subset is None)
        async with stream_parts(settings.dask_scheduler, evaluate,
                                {"firms": frame, "scores": scores}, as_of=day,
                                rules=base_rules) as stream:
            async for part, records in reading:
                await stream.put(records, firms_subset=part)
                del records
            for part_found in await stream.results():
                found += part_found
        result.details["dask"] = True
    elif from_store:
        chunk = len(parts[0]) if parts else 1  # the records part's firms
        found += await in_two_passes(engine, universe, frame, day, scores, base_rules, chunk)
        result.details.update(passes=2, store_parts=len(in_parts(universe, STORE_PART_FIRMS)))
    else:
        async for part, records in records_in_parts(engine, day, parts, with_keys=True,
                                                    every_firm=subset is None):
            found += await asyncio.to_thread(evaluate, records, frame, day, firms_subset=part,
                                             scores=scores, rules=base_rules)
            del records
    red = red_firms(found, day)
    if subset is not None:  # everyone else's red status: their open red warnings
        for w in await load_open_warnings(level="red"):
            if w["uscc"] in subset or (w["kind"] or kind_of(w["rule_code"])) == "contagion":
                continue
            seen = w["first_seen"] or day
            red[w["uscc"]] = min(red.get(w["uscc"], seen), seen)
    partners = RedPartners(red=red, guarantees=guarantees, relations=relations)
    # The contagion rules read the registries and, of the records, only the kinds they name
    # (the statements' equity, which DebtRank's capital reads too): those of every tied firm.
    statements = await load_records(engine, day, usccs=None if tied is None else sorted(tied),
                                    with_keys=True,
                                    kinds=tuple(sorted({*_record_kinds(contagion_rules), _STATEMENT})))
    found_tied = await asyncio.to_thread(
        evaluate, statements, frame, day, firms_subset=None if tied is None else sorted(tied),
        red_partners=partners, rules=contagion_rules)

    # DebtRank over the whole network; capital (equity, else registered capital) is read for
    # the firms distress can reach, the same set whichever scan this is.
    c01 = _Contagion([], {}, 0, 0.0)
    if red and len(guarantees):
        net, need = await asyncio.to_thread(_network, guarantees, frame, red, day)
        reached = statements[statements["uscc"].isin(need)]
        missing = sorted(need - (tied or set()))  # a full scan's statements hold every firm's
        if tied is not None and missing:
            reached = pd.concat([reached, await load_records(engine, day, usccs=missing,
                                                             kinds=(_STATEMENT,))],
                                ignore_index=True)
        names = dict(zip(firms["uscc"].astype(str), firms["name"].astype(str), strict=True))
        c01 = await asyncio.to_thread(_contagion_findings, net, names, red,
                                      _capital(frame, need, reached, day))
    result.red_firms = len(red)
    result.contagion_firms = len(c01.findings)
    result.lost_cover = c01.lost_cover
    result.debtrank = round(c01.debtrank, 6)
    result.fund_draw_fen, top_draws = await _fund_draw(c01.distress, red, ids)
    result.details["fund_draw_top"] = top_draws
    if subset is None and len(guarantees):
        result.details["systemic"] = await asyncio.to_thread(_systemic, firms, guarantees,
                                                             statements, day)

    now = datetime.now(UTC)
    async with db.write_transaction() as tx:
        if db.on_postgres():
            await Warning.raw("SELECT pg_advisory_xact_lock({})", _SCAN_LOCK)
        scope_ids = None if subset is None else [ids[u] for u in subset]
        tied_ids = None if tied is None else [ids[u] for u in tied if u in ids]
        plans = [
            reconcile(await load_open_warnings(scope_ids, base_rules), found, day,
                      firms=subset, rules=base_rules),
            reconcile(await load_open_warnings(tied_ids, contagion_rules), found_tied, day,
                      firms=tied, rules=contagion_rules),
            reconcile(await load_open_warnings(None, [CONTAGION_CODE]), c01.findings, day,
                      rules=[CONTAGION_CODE]),
        ]
        changes: list[_Change] = []
        for plan in plans:
            changes += await _apply(tx, plan, ids, now, result)
        raised = [c for c in changes if c.event == "raised"]
        if raised:  # the new warnings' ids, for the notifications
            rows = await Warning.select(Warning.id, Warning.firm, Warning.rule_code).where(
                Warning.closed_at.is_null() & (Warning.opened_at == now))
            new_ids = {(r["firm"], r["rule_code"]): r["id"] for r in rows}
            for c in raised:
                c.warning_id = new_ids[(c.firm_id, c.rule_code)]
        result.notified = await _notify(changes, names_by_id, now)
        result.seconds = round(time.perf_counter() - started, 3)
        await RiskSnapshot.insert(RiskSnapshot(
            kind=f"scan_{result.scope}", as_of=day, data=to_json(_scan_data(result)), created_at=now))
    log.info("warning scan (%s, %s): %d firms, +%d ~%d -%d, %d red, %d contagion, fund draw "
             "%d fen, %.1f s", result.scope, day, result.firms, result.raised, result.updated,
             result.closed, result.red_firms, result.contagion_firms, result.fund_draw_fen,
             result.seconds)
    return result


def _systemic(firms: pd.DataFrame, guarantees: pd.DataFrame, records: pd.DataFrame,
              day: date, top: int = 20) -> list[dict[str, Any]]:
    """The firms whose failure alone would hit the others most (full scans only: capital
    needs every firm's latest statement)."""
    frame = firms[list(FIRM_COLUMNS)]
    net = build_network(guarantees, None, as_of=day, firms=frame)
    table = systemic_importance(net, capital_buffer(frame, records, day), top=top)
    table = table[table["firms_hit"] > 0]
    return [{"uscc": str(u), "debtrank": round(float(r.debtrank), 6),
             "firms_hit": int(r.firms_hit), "failed": int(r.failed), "calls_fen": int(r.calls_fen)}
            for u, r in table.iterrows()]


def _scan_data(result: ScanResult) -> dict[str, Any]:
    data = asdict(result)
    data["as_of"] = result.as_of.isoformat()
    return data


async def run_scan(engine: Engine, settings: Settings, data: ScanRequest | None,
                   actor: Actor | None = None) -> ScanOut:
    """An admin's scan now: the whole region, or the firms named; audited as ``risk.scan``
    once it has run (the scan writes in transactions of its own)."""
    data = data or ScanRequest()
    firm_ids = None
    named: list[str] | None = None
    if data.usccs is not None:
        wanted = [u.strip().upper() for u in data.usccs]
        rows = await Firm.select(Firm.id, Firm.uscc).where(Firm.uscc.is_in(wanted or [""]))
        known = {r["uscc"]: r["id"] for r in rows}
        for i, u in enumerate(wanted):
            if u not in known:
                raise ValidationException(t("usccs[{i}]: no firm with uscc {uscc}", i=i, uscc=u))
        firm_ids = list(known.values())
        named = sorted(known)
    result = await scan(engine, settings, None, firm_ids)
    if actor is not None:
        await record(actor, "risk.scan", "region" if named is None else ",".join(named), {
            "usccs": named, "firms": result.firms, "raised": result.raised, "updated": result.updated,
            "escalated": result.escalated, "closed": result.closed})
    return ScanOut(
        as_of=result.as_of, scope=result.scope, firms=result.firms, raised=result.raised,
        updated=result.updated, escalated=result.escalated, closed=result.closed,
        notified=result.notified, red_firms=result.red_firms,
        contagion_firms=result.contagion_firms, lost_cover=result.lost_cover,
        debtrank=result.debtrank, expected_fund_draw_yuan=result.fund_draw_fen // 100,
        seconds=result.seconds)
