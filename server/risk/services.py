"""Risk warnings on the platform: the warning scan, who sees which warnings, guarantee circles
and the monthly macro index.

The scan (:func:`scan`) reads the frames, lets :mod:`scoring.risk` evaluate the rules and
reconcile them with the warnings open, spreads the distress of red firms through the guarantee
network with DebtRank (:mod:`scoring.graph`) and writes every raise, update and close, the
notifications of the changes that matter and a snapshot of the scan in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pandas as pd
from litestar.exceptions import NotFoundException, ValidationException
from piccolo.engine.base import Engine
from piccolo.query.functions.aggregate import Min

from scoring.graph import (
    GuaranteeNetwork,
    build_network,
    capital_buffer,
    contagion,
    expected_fund_draw,
    find_circles,
    systemic_importance,
)
from scoring.records import FIRM_COLUMNS, INDUSTRY_SECTIONS
from scoring.risk import (
    RULES,
    Finding,
    Reconciliation,
    RedPartners,
    Update,
    catalogue,
    evaluate,
    reconcile,
    red_firms,
    runnable,
)
from scoring.risk.macro import SUMS as MACRO_SUMS
from scoring.risk.macro import macro_index, merge_groups
from scoring.risk.rules import KINDS, LEVELS, render
from server import db
from server.consent.services import active_consent
from server.consent.tables import AccessLog, Consent
from server.financing.tables import LoanApplication
from server.firms.tables import Firm
from server.fund.tables import FundLedger
from server.ingest.tables import DeptRecord
from server.privacy import Group, min_firms, narrowest, publishable
from server.risk.frames import (
    load_guarantees,
    load_open_warnings,
    load_relations,
    load_scores,
)
from server.risk.schemas import (
    CircleMember,
    CircleOut,
    Circles,
    FirmWarnings,
    MacroGroup,
    MacroOut,
    RuleOut,
    ScanOut,
    ScanRequest,
    ScanSummary,
    SystemicFirm,
    WarningOut,
)
from server.risk.tables import RiskSnapshot, Warning
from server.scores.frames import load_firms, load_records
from server.scores.tables import ScoreHistory
from server.settings import Settings
from server.users.security import AuthUser

__all__ = [
    "CONTAGION_CODE",
    "ScanResult",
    "check_drift",
    "circles",
    "compute_macro_index",
    "firm_warnings",
    "latest_macro",
    "list_warnings",
    "rule_catalogue",
    "run_scan",
    "scan",
    "scan_after_ingest",
]

log = logging.getLogger("xinbao.risk")

#: The DebtRank contagion warning (not in the rule catalogue: it needs the whole network).
CONTAGION_CODE = "C01_CONTAGION"
CONTAGION_KIND = "contagion"
#: Distress (share of capital lost, DebtRank's h) below which a firm is not warned.
MIN_DISTRESS = 0.01
#: Distress from which the contagion warning is red / yellow (blue below).
RED_DISTRESS = 0.5
YELLOW_DISTRESS = 0.1
#: A scan of more firms than this runs as a full scan (one pass is cheaper than many IN lists).
INCREMENTAL_LIMIT = 5_000
#: Days of score history the rating rules read (their 90-day look-back plus the score in
#: force before it, with monthly scoring and a margin).
SCORE_DAYS = 90 + 186
#: Level order, for telling an escalation.
LEVEL_RANK = {"blue": 0, "yellow": 1, "red": 2}
#: Keyed advisory lock serialising scans on PostgreSQL (SQLite's IMMEDIATE does it there).
_SCAN_LOCK = 5_141_705
_LOCAL = ZoneInfo("Asia/Shanghai")

_C01_TITLE = ("担保链风险传导（DebtRank）", "Guarantee-chain contagion (DebtRank)")
_C01_MESSAGE = (
    "红色预警企业{source_name}的风险经{hops}层担保关系传导至本企业（{path_text}）：本企业为"
    "受影响企业担保{exposure_fen:yuan}元，预计代偿损失{loss_fen:yuan}元，约为资本的{distress:.0%}",
    "Distress of the red-flagged {source_name} reaches this firm through {hops} guarantee "
    "link(s) ({path_text}): it guarantees {exposure_fen:yuan} yuan of distressed firms' loans, "
    "expected calls {loss_fen:yuan} yuan, about {distress:.0%} of its capital",
)
_C01_CLEAR = ("传导压力降至资本的1%以下，或相关担保到期、红色预警解除",
              "Distress below 1% of capital, or the guarantees end or the red warnings clear")


def _c01_level(distress: float) -> str:
    if distress >= RED_DISTRESS:
        return "red"
    return "yellow" if distress >= YELLOW_DISTRESS else "blue"


def _titles(code: str) -> tuple[str, str]:
    rule = RULES.get(code)
    return (rule.title_zh, rule.title_en) if rule else _C01_TITLE


def _clear_texts(code: str) -> tuple[str, str]:
    rule = RULES.get(code)
    return rule.clear_texts() if rule else _C01_CLEAR


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


def _day(as_of: date | datetime | None) -> date:
    """The scan's date: a datetime is read in Asia/Shanghai (the region's calendar)."""
    if as_of is None:
        return datetime.now(_LOCAL).date()
    if isinstance(as_of, datetime):
        return (as_of.astimezone(_LOCAL) if as_of.tzinfo else as_of).date()
    return as_of


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
            uscc=str(row.uscc), rule_code=CONTAGION_CODE, level=_c01_level(distress),
            kind=CONTAGION_KIND, evidence=evidence, message_zh=render(_C01_MESSAGE[0], values),
            message_en=render(_C01_MESSAGE[1], values), clear_zh=_C01_CLEAR[0],
            clear_en=_C01_CLEAR[1], first_seen=red.get(str(row.source_uscc))))
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


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


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
        inserts.append((ids[f.uscc], f.rule_code, f.level, _json(f.evidence), now, now,
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
        updates.append((f.level, _json(f.evidence), f.kind, f.first_seen, f.message_zh,
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
        closes.append((now, now, _json(evidence), w["id"]))
        title_zh, title_en = _titles(w["rule_code"])
        changes.append(_Change(w["firm"], w["uscc"], w["rule_code"], w["level"],
                               w.get("kind") or _kind(w["rule_code"]),
                               f"{title_zh}已解除：{c.reason_zh}",
                               f"{title_en} cleared: {c.reason_en}", evidence, "closed", w["id"]))
    await _executemany(tx, "UPDATE risk_warning SET closed_at = ?, updated_at = ?, evidence = ? "
                       "WHERE id = ?", closes)
    result.closed += len(closes)
    return changes


def _changed(u: Update) -> bool:
    """Evidence or level differ, or the date the condition began moved."""
    return u.changed or u.warning.get("first_seen") != u.finding.first_seen


def _kind(code: str) -> str:
    rule = RULES.get(code)
    return rule.kind if rule else CONTAGION_KIND


async def _notify(changes: list[_Change], names: dict[int, str], now: datetime) -> int:
    """The notification contract, inside the scan's transaction (the outbox rows commit or
    roll back with the warnings)."""
    if not changes:
        return 0
    from server.notifications.events import RiskEvent
    from server.notifications.services import notify_risk_events

    events = []
    for c in changes:
        title_zh, title_en = _titles(c.rule_code)
        events.append(RiskEvent(
            firm_id=c.firm_id, uscc=c.uscc, firm_name=names.get(c.firm_id, c.uscc),
            rule_code=c.rule_code, level=c.level, kind=c.kind, title_zh=title_zh,
            title_en=title_en, message_zh=c.message_zh, message_en=c.message_en,
            evidence=c.evidence, event=c.event, warning_id=c.warning_id, at=now))
    return int(await notify_risk_events(events))


async def scan(engine: Engine, settings: Settings, as_of: date | datetime | None = None,
               firm_ids: Collection[int] | None = None) -> ScanResult:
    """Evaluate the warning rules as of ``as_of`` for every firm (``firm_ids`` None) or some,
    spread red firms' distress through guarantees, and write the outcome (see the module
    docstring). Safe to run twice: a second run finds nothing new to raise.

    An incremental scan also re-evaluates the contagion rules of the firms tied to the given
    ones (their red partners may have changed) and reads the red status of every other firm
    from its open warnings; DebtRank always runs over the whole network.
    """
    started = time.perf_counter()
    day = _day(as_of)
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
    records = await load_records(engine, day, usccs=None if tied is None else sorted(tied),
                                 with_keys=True)
    has_scores = await ScoreHistory.exists()
    scores = await load_scores(day - timedelta(days=SCORE_DAYS),
                               None if subset is None else [ids[u] for u in subset])
    base_rules = runnable(scores=has_scores, red_partners=False)
    contagion_rules = [r.code for r in RULES.values() if r.kind == "contagion"]

    # the rules and DebtRank are numpy work: in a worker thread, so the API stays responsive
    # while a scan runs after an ingested batch
    found = await asyncio.to_thread(
        evaluate, records, frame, day, firms_subset=None if subset is None else sorted(subset),
        scores=scores, rules=base_rules)
    red = red_firms(found, day)
    if subset is not None:  # everyone else's red status: their open red warnings
        for w in await load_open_warnings(level="red"):
            if w["uscc"] in subset or (w["kind"] or _kind(w["rule_code"])) == "contagion":
                continue
            seen = w["first_seen"] or day
            red[w["uscc"]] = min(red.get(w["uscc"], seen), seen)
    partners = RedPartners(red=red, guarantees=guarantees, relations=relations)
    found_tied = await asyncio.to_thread(
        evaluate, records, frame, day, firms_subset=None if tied is None else sorted(tied),
        red_partners=partners, rules=contagion_rules)

    # DebtRank over the whole network; capital (equity, else registered capital) is read for
    # the firms distress can reach, the same set whichever scan this is.
    c01 = _Contagion([], {}, 0, 0.0)
    if red and len(guarantees):
        net, need = await asyncio.to_thread(_network, guarantees, frame, red, day)
        statements = records[records["uscc"].isin(need)]
        missing = sorted(need - set(statements["uscc"].unique()) - (tied or set()))
        if tied is not None and missing:
            statements = pd.concat([statements, await load_records(engine, day, usccs=missing)],
                                   ignore_index=True)
        names = dict(zip(firms["uscc"].astype(str), firms["name"].astype(str), strict=True))
        c01 = await asyncio.to_thread(_contagion_findings, net, names, red,
                                      _capital(frame, need, statements, day))
    result.red_firms = len(red)
    result.contagion_firms = len(c01.findings)
    result.lost_cover = c01.lost_cover
    result.debtrank = round(c01.debtrank, 6)
    result.fund_draw_fen, top_draws = await _fund_draw(c01.distress, red, ids)
    result.details = {"fund_draw_top": top_draws}
    if subset is None and len(guarantees):
        result.details["systemic"] = await asyncio.to_thread(_systemic, firms, guarantees,
                                                             records, day)

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
            kind=f"scan_{result.scope}", as_of=day, data=_json(_scan_data(result)), created_at=now))
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


async def scan_after_ingest(engine: Engine, settings: Settings, usccs: Collection[str]) -> None:
    """What follows a committed ingest batch, for the firms it touched: re-score them with the
    active model (``rescore_firms``, as of the latest scoring date), then scan them, so a grade
    the batch changes is a warning in the same pass. A batch touching more than
    ``INCREMENTAL_LIMIT`` firms is left to the scheduled jobs. Errors are logged, not raised:
    the batch is stored whatever follows."""
    if not usccs:
        return
    if len(usccs) > INCREMENTAL_LIMIT:
        log.info("ingest touched %d firms: left to the scheduled re-scoring and warning scan", len(usccs))
        return
    try:
        from server.scores.rescore import rescore_firms

        rows = await Firm.select(Firm.id).where(Firm.uscc.is_in(sorted(usccs)))
        firm_ids = [r["id"] for r in rows]
        await rescore_firms(engine, settings, firm_ids, "ingest")
        await scan(engine, settings, None, firm_ids)
    except Exception:  # noqa: BLE001 - the batch is committed; the scheduled jobs catch up
        log.exception("re-scoring and warning scan after ingest failed")


async def run_scan(engine: Engine, settings: Settings, data: ScanRequest | None) -> ScanOut:
    """An admin's scan now: the whole region, or the firms named."""
    data = data or ScanRequest()
    firm_ids = None
    if data.usccs is not None:
        wanted = [u.strip().upper() for u in data.usccs]
        rows = await Firm.select(Firm.id, Firm.uscc).where(Firm.uscc.is_in(wanted or [""]))
        known = {r["uscc"]: r["id"] for r in rows}
        for i, u in enumerate(wanted):
            if u not in known:
                raise ValidationException(f"usccs[{i}]: no firm with uscc {u}")
        firm_ids = list(known.values())
    result = await scan(engine, settings, None, firm_ids)
    return ScanOut(
        as_of=result.as_of, scope=result.scope, firms=result.firms, raised=result.raised,
        updated=result.updated, escalated=result.escalated, closed=result.closed,
        notified=result.notified, red_firms=result.red_firms,
        contagion_firms=result.contagion_firms, lost_cover=result.lost_cover,
        debtrank=result.debtrank, expected_fund_draw_yuan=result.fund_draw_fen // 100,
        seconds=result.seconds)


# ---------------------------------------------------------------------------------------------
# reading warnings


def rule_catalogue() -> list[RuleOut]:
    """Every rule of the catalogue, then the DebtRank contagion warning."""
    rules = [msgspec.convert(r, RuleOut) for r in catalogue()]
    rules.append(RuleOut(
        code=CONTAGION_CODE, level="red", level_zh=LEVELS["red"][0], level_en=LEVELS["red"][1],
        kind=CONTAGION_KIND, kind_zh=KINDS[CONTAGION_KIND][0], kind_en=KINDS[CONTAGION_KIND][1],
        dimension=None, sources=["guarantee", "financial_statement"], title_zh=_C01_TITLE[0],
        title_en=_C01_TITLE[1], message_zh=_C01_MESSAGE[0], message_en=_C01_MESSAGE[1],
        clear_zh=_C01_CLEAR[0], clear_en=_C01_CLEAR[1],
        params={"min_distress": MIN_DISTRESS, "yellow_distress": YELLOW_DISTRESS,
                "red_distress": RED_DISTRESS}))
    return rules


_WARNING_COLUMNS = (
    Warning.id, Warning.firm, Warning.firm.uscc.as_alias("uscc"),
    Warning.firm.name.as_alias("firm_name"), Warning.rule_code, Warning.level, Warning.kind,
    Warning.opened_at, Warning.closed_at, Warning.updated_at, Warning.first_seen,
    Warning.message_zh, Warning.message_en, Warning.evidence,
)


def _warning_out(row: dict[str, Any], detail: bool) -> WarningOut:
    title_zh, title_en = _titles(row["rule_code"])
    out = WarningOut(
        id=row["id"], uscc=row["uscc"], firm_name=row["firm_name"], rule_code=row["rule_code"],
        level=row["level"], kind=row["kind"] or _kind(row["rule_code"]), title_zh=title_zh,
        title_en=title_en, opened_at=row["opened_at"], closed_at=row["closed_at"],
        status="open" if row["closed_at"] is None else "closed", detail=detail)
    if detail:
        evidence = row["evidence"]
        if isinstance(evidence, str | bytes):
            evidence = json.loads(evidence or "{}")
        out.message_zh, out.message_en = row["message_zh"], row["message_en"]
        out.evidence, out.first_seen = evidence, row["first_seen"]
        out.updated_at = row["updated_at"]
        out.clear_zh, out.clear_en = _clear_texts(row["rule_code"])
    return out


def _status_filter(status: str) -> Any:
    if status == "open":
        return Warning.closed_at.is_null()
    if status == "closed":
        return Warning.closed_at.is_not_null()
    return None


def _sorted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open before closed, red before yellow before blue, newest first."""
    rows = sorted(rows, key=lambda r: r["opened_at"], reverse=True)
    return sorted(rows, key=lambda r: (r["closed_at"] is not None, -LEVEL_RANK.get(r["level"], 0)))


async def _log_detail_views(user: AuthUser, firm_ids: Iterable[int]) -> None:
    """Detail views by anyone but the firm's owner are logged for the firm, as evaluations."""
    ids = sorted(set(firm_ids))
    if not ids or user.role == "owner":
        return
    now = datetime.now(UTC)
    await AccessLog.insert(*[AccessLog(firm=i, viewer=user.id, viewer_role=user.role,
                                       bank=user.bank_id, what="warnings", at=now) for i in ids])


async def _consented_firms(bank_id: int, firm_ids: Collection[int] | None = None) -> set[int]:
    where = (Consent.bank == bank_id) & active_consent(datetime.now(UTC))  # the one consent rule
    if firm_ids is not None:
        where &= Consent.firm.is_in(sorted(firm_ids) or [0])
    return {r["firm"] for r in await Consent.select(Consent.firm).where(where)}


async def firm_warnings(user: AuthUser, uscc: str, status: str, limit: int) -> FirmWarnings:
    """A firm's warnings: public signals for everyone signed in, detail for its owner, admins
    and banks it consented to (their views are logged)."""
    firm = await Firm.select(Firm.id, Firm.uscc, Firm.name).where(Firm.uscc == uscc).first()
    if firm is None:
        raise NotFoundException(f"uscc: no firm with uscc {uscc}")
    fid = firm["id"]
    if user.role == "admin":
        detail = True
    elif user.role == "owner":
        detail = user.firm_id == fid
    elif user.role == "bank_manager" and user.bank_id is not None:
        detail = bool(await _consented_firms(user.bank_id, [fid]))
    else:
        detail = False
    query = Warning.select(*_WARNING_COLUMNS).where(Warning.firm == fid)
    cond = _status_filter(status)
    if cond is not None:
        query = query.where(cond)
    rows = _sorted(await query.order_by(Warning.id, ascending=False).limit(limit))
    counts = {lvl: 0 for lvl in LEVEL_RANK}
    for r in await Warning.select(Warning.level).where(
            (Warning.firm == fid) & Warning.closed_at.is_null()):
        counts[r["level"]] = counts.get(r["level"], 0) + 1
    if detail and rows:
        await _log_detail_views(user, [fid])
    return FirmWarnings(uscc=firm["uscc"], name=firm["name"], detail=detail,
                        open_red=counts["red"], open_yellow=counts["yellow"],
                        open_blue=counts["blue"], warnings=[_warning_out(r, detail) for r in rows])


async def _bank_firms(bank_id: int) -> set[int]:
    """Firms that applied to or borrow from the bank."""
    rows = await LoanApplication.select(LoanApplication.firm).where(
        LoanApplication.product.bank == bank_id).distinct()
    return {r["firm"] for r in rows}


async def list_warnings(user: AuthUser, level: str | None, status: str, kind: str | None,
                        limit: int) -> list[WarningOut]:
    """Warnings across firms: an admin's of every firm; a bank manager's of the firms that
    applied to or borrow from the bank and of those that consented to it (detail only where
    consent allows)."""
    if kind is not None and kind not in KINDS:
        raise ValidationException(f"kind: unknown warning kind {kind!r}; known: "
                                  f"{', '.join(KINDS)}")
    query = Warning.select(*_WARNING_COLUMNS)
    consented: set[int] = set()
    if user.role == "bank_manager":
        if user.bank_id is None:
            return []
        consented = await _consented_firms(user.bank_id)
        scope = await _bank_firms(user.bank_id) | consented
        if not scope:
            return []
        query = query.where(Warning.firm.is_in(sorted(scope)))
    cond = _status_filter(status)
    if cond is not None:
        query = query.where(cond)
    if level is not None:
        query = query.where(Warning.level == level)
    if kind is not None:
        query = query.where(Warning.kind == kind)
    rows = _sorted(await query.order_by(Warning.id, ascending=False).limit(limit))
    out = []
    shown: set[int] = set()
    for r in rows:
        detail = user.role == "admin" or r["firm"] in consented
        if detail:
            shown.add(r["firm"])
        out.append(_warning_out(r, detail))
    await _log_detail_views(user, shown)
    return out


# ---------------------------------------------------------------------------------------------
# circles and the macro index


async def _latest_snapshot(*kinds: str) -> dict[str, Any] | None:
    row = await RiskSnapshot.select(
        RiskSnapshot.kind, RiskSnapshot.as_of, RiskSnapshot.data, RiskSnapshot.created_at,
    ).where(RiskSnapshot.kind.is_in(list(kinds))).order_by(
        RiskSnapshot.created_at, ascending=False).order_by(
        RiskSnapshot.id, ascending=False).first()
    if row is not None and isinstance(row["data"], str | bytes):
        row["data"] = json.loads(row["data"] or "{}")
    return row


async def circle_scope(user: AuthUser) -> set[int] | None:
    """Firms whose circle membership and amounts the user may see: every firm for an admin
    (the platform's operator, who sees any evaluation too; the views are logged); for a bank
    manager the firms that consented to the bank or applied to or borrow from it."""
    if user.role == "admin":
        return None
    if user.bank_id is None:
        return set()
    return await _bank_firms(user.bank_id) | await _consented_firms(user.bank_id)


async def circles(user: AuthUser, min_size: int, limit: int, min_group_size: int) -> Circles:
    """Guarantee circles among the guarantees active today, largest first, and the
    systemically important firms of the latest full scan.

    A bank manager sees members (with their most severe open warning) only for firms that
    consented to the bank or are its applicants or borrowers; other members are a count, and
    a circle's amounts are shown only when every member is visible or the hidden ones are at
    least ``min_group_size`` (K) firms. Admins see everything. Every member shown to anyone is
    logged in that firm's access log, as evaluations are."""
    day = _day(None)
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
    snap = await _latest_snapshot("scan_full")
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


def _month_of(day: date) -> date:
    """The month the index is computed for: the one holding the day before ``day`` (on the
    1st, the month just ended; otherwise the month so far)."""
    d = day - timedelta(days=1)
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, 6) if np.isfinite(f) else None


async def compute_macro_index(engine: Engine, as_of: date | datetime | None = None
                              ) -> dict[str, Any]:
    """The macro risk index of one month (see :func:`_month_of`) per region, industry section
    and town, from grades, warnings and defaults; stored as the month's ``macro`` snapshot,
    replacing an earlier one (safe to run twice)."""
    month = _month_of(_day(as_of))
    firms = await load_firms(engine)
    grades = await load_scores(month - timedelta(days=400))
    grades = grades[grades["as_of"] <= pd.Timestamp(month)]
    start = month.replace(day=1)
    rows = await Warning.select(
        Warning.firm.uscc.as_alias("uscc"), Warning.level, Warning.opened_at, Warning.closed_at,
    ).where((Warning.opened_at < datetime.combine(month + timedelta(days=1), datetime.min.time(),
                                                  _LOCAL))
            & (Warning.closed_at.is_null()
               | (Warning.closed_at >= datetime.combine(start, datetime.min.time(), _LOCAL))))
    warnings = pd.DataFrame(rows, columns=["uscc", "level", "opened_at", "closed_at"])
    for c in ("opened_at", "closed_at"):
        warnings[c] = pd.to_datetime(warnings[c], utc=True)
    first = await DeptRecord.select(
        DeptRecord.uscc, Min(DeptRecord.event_date).as_alias("default_date"),
    ).where((DeptRecord.source == "bank_loan") & (DeptRecord.days >= 90)
            & DeptRecord.superseded_at.is_null()).group_by(DeptRecord.uscc)
    defaults = pd.DataFrame(first, columns=["uscc", "default_date"])
    defaults["default_date"] = pd.to_datetime(defaults["default_date"])
    table = macro_index(firms[["uscc", "industry_section", "town", "founded_on"]],
                        grades, warnings, defaults, months=[month])
    data = {"month": month.isoformat(), "rows": [
        {"dimension": r.dimension, "group": str(r.group), "firms": int(r.firms),
         "graded": int(r.graded), "share_cd": _num(r.share_cd), "mean_pd": _num(r.mean_pd),
         "red_per_100": _num(r.red_per_100), "yellow_per_100": _num(r.yellow_per_100),
         "defaults": int(r.defaults), "default_rate": _num(r.default_rate),
         "index": _num(r.index),
         # the sums behind the ratios: never published, they let the reader pool groups
         # under K into one (latest_macro)
         "sums": {c: _num(getattr(r, c)) for c in MACRO_SUMS}} for r in table.itertuples(index=False)]}
    async with db.write_transaction():
        await RiskSnapshot.delete().where((RiskSnapshot.kind == "macro")
                                          & (RiskSnapshot.as_of == month))
        await RiskSnapshot.insert(RiskSnapshot(kind="macro", as_of=month, data=_json(data),
                                               created_at=datetime.now(UTC)))
    log.info("macro index for %s: %d groups", month, len(data["rows"]))
    return data


#: The pooled group of a dimension's groups too small to publish on their own.
OTHER_GROUP = "other"


def _group_names(by: str, group: str) -> tuple[str, str]:
    if by == "industry" and group in INDUSTRY_SECTIONS:
        _lo, _hi, zh, en = INDUSTRY_SECTIONS[group]
        return zh, en
    if by == "region":
        return "全区", "Whole region"
    if group == OTHER_GROUP:
        return "其他（不足K家企业的分组合并）", "Other (groups under K firms, pooled)"
    return group, group


def _macro_group(by: str, r: dict[str, Any]) -> MacroGroup:
    zh, en = _group_names(by, r["group"])
    return MacroGroup(group=r["group"], name_zh=zh, name_en=en, firms=r["firms"],
                      graded=r["graded"], share_cd=r["share_cd"], mean_pd=r["mean_pd"],
                      red_per_100=r["red_per_100"], yellow_per_100=r["yellow_per_100"],
                      defaults=r["defaults"], default_rate=r["default_rate"], index=r["index"])


def _pooled(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The groups of ``rows`` pooled into the ``other`` group (from the sums stored with
    each), or None when a snapshot older than the sums cannot pool them."""
    if any(not isinstance(r.get("sums"), dict) for r in rows):
        return None
    frame = pd.DataFrame([{"month": None, "dimension": r["dimension"], "group": r["group"],
                           **{c: np.nan if r["sums"].get(c) is None else r["sums"][c]
                              for c in MACRO_SUMS}} for r in rows])
    merged = merge_groups(frame, OTHER_GROUP)
    return {"group": OTHER_GROUP, "firms": int(merged["firms"]), "graded": int(merged["graded"]),
            "defaults": int(merged["defaults"]),
            **{c: _num(merged[c]) for c in ("share_cd", "mean_pd", "red_per_100",
                                            "yellow_per_100", "default_rate", "index")}}


def _macro_size(r: dict[str, Any], graded: bool) -> int:
    """The firms a group's figures come from: the graded ones (grade shares and mean PD are
    over them, and they are never more than the firms) once the region has any."""
    return int(r["graded"]) if graded else int(r["firms"])


def _publishable_macro(region: dict[str, Any] | None, rows: list[dict[str, Any]],
                       k: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The region and the groups that may be published with K = ``k``: groups under K firms
    besides one reader are pooled into ``other`` (itself of K firms besides one, else kept
    back together with enough small groups that the region minus the groups shown never
    isolates fewer), by the shared rule of :mod:`server.privacy`."""
    if region is None:
        return None, []
    graded = int(region["graded"]) > 0
    groups = [Group("region", "*region*", _macro_size(region, graded))]
    groups += [Group("group", r["group"], _macro_size(r, graded), "*region*") for r in rows]
    allowed = publishable(groups, k)
    if "*region*" not in allowed:
        return None, []
    shown = [r for r in rows if r["group"] in allowed and r["group"] != OTHER_GROUP]
    pooled = [r for r in rows if r["group"] not in allowed or r["group"] == OTHER_GROUP]
    if pooled:
        other = _pooled(pooled)
        # The remainder is either empty or K firms besides one: publishable() saw to it.
        if other is not None:
            shown.append(other)
    return region, shown


async def latest_macro(by: str, min_group_size: int) -> MacroOut:
    """The latest monthly index by industry section, town or for the region, riskiest first,
    with groups under K firms (``min_group_size``, besides one reader) pooled into ``other``;
    and the latest scan's contagion figures and expected draw on the guarantee fund (withheld
    when it comes from fewer firms)."""
    snap = await _latest_snapshot("macro")
    scan_snap = await _latest_snapshot("scan_full", "scan_incremental")
    latest_scan = None
    if scan_snap is not None:
        d = scan_snap["data"]
        # The draw is a sum over the covered loans of a few firms: with one, it is that
        # firm's loan times the fund's share. The top list counts them (up to 20).
        drawn = len((d.get("details") or {}).get("fund_draw_top") or [])
        draw = d["fund_draw_fen"] // 100
        latest_scan = ScanSummary(
            as_of=scan_snap["as_of"], scope=d["scope"], finished_at=scan_snap["created_at"],
            red_firms=d["red_firms"], contagion_firms=d["contagion_firms"],
            debtrank=d["debtrank"],
            expected_fund_draw_yuan=draw if draw == 0 or drawn >= min_firms(min_group_size) else None)
    if snap is None:
        return MacroOut(by=by, month=None, computed_at=None, region=None, groups=[],
                        latest_scan=latest_scan, min_group_size=min_group_size)
    rows = snap["data"]["rows"]
    region = next((r for r in rows if r["dimension"] == "region"), None)
    region, shown = _publishable_macro(region, [r for r in rows if r["dimension"] == by],
                                       min_group_size)
    groups = [_macro_group(by, r) for r in shown]
    groups.sort(key=lambda g: -(g.index if g.index is not None else -1.0))
    return MacroOut(by=by, month=snap["as_of"], computed_at=snap["created_at"],
                    region=None if region is None else _macro_group("region", region),
                    groups=groups, latest_scan=latest_scan, min_group_size=min_group_size)


# ---------------------------------------------------------------------------------------------
# model drift


async def check_drift(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    """Population stability (PSI) of the latest whole-region scoring run against the active
    model's training sample, for the score and each indicator; stored as the run's ``drift``
    snapshot (replacing an earlier check of the same run) and logged. None when there is no
    active model or run yet."""
    from scoring import ModelRegistry
    from scoring.features import compute_features
    from scoring.monitoring import stability_report
    from server.scores.tables import ModelVersion, ScoringRun

    active = await ModelVersion.select(ModelVersion.version).where(
        ModelVersion.active == True).first()  # noqa: E712
    if active is None:
        return None
    run = await ScoringRun.select(ScoringRun.id, ScoringRun.as_of).where(
        (ScoringRun.model_version == active["version"])
        & ScoringRun.reason.is_in(["full", "nightly", "promotion"])).order_by(
        ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False).first()
    if run is None:
        return None
    model = ModelRegistry(settings.model_dir).load(active["version"]).model
    scores = await ScoreHistory.select(ScoreHistory.firm.uscc.as_alias("uscc"),
                                       ScoreHistory.score).where(ScoreHistory.run == run["id"])
    if not scores:
        return None
    firms = await load_firms(engine)
    firms = firms[firms["uscc"].isin({s["uscc"] for s in scores})].reset_index(drop=True)
    records = await load_records(engine, run["as_of"])
    X = compute_features(records, pd.Timestamp(run["as_of"]), firms[list(FIRM_COLUMNS)])
    report = stability_report(model, X, np.array([s["score"] for s in scores], dtype=float))
    head = report.iloc[0]
    data = {"model_version": active["version"], "run_id": run["id"],
            "as_of": run["as_of"].isoformat(), "firms": len(scores),
            "psi_score": round(float(head["psi"]), 6), "status": str(head["status"]),
            "variables": [{"variable": str(r.variable), "psi": round(float(r.psi), 6),
                           "status": str(r.status)} for r in report.iloc[1:].itertuples()]}
    shifted = [v["variable"] for v in data["variables"] if v["status"] == "shifted"]
    async with db.write_transaction():
        await RiskSnapshot.delete().where((RiskSnapshot.kind == "drift")
                                          & (RiskSnapshot.as_of == run["as_of"]))
        await RiskSnapshot.insert(RiskSnapshot(kind="drift", as_of=run["as_of"],
                                               data=_json(data), created_at=datetime.now(UTC)))
    log.info("drift of run %s (%s, %s): score PSI %.4f (%s); shifted indicators: %s",
             run["id"], run["as_of"], active["version"], data["psi_score"], data["status"],
             shifted or "none")
    return data
