"""The numbers of the annual credit-index report, read from stored data (issue 14).

Everything the document prints is here, as plain values, so a test can check a figure against
its own recomputation and the document builder only formats. Group figures obey the minimum
group size: lists of groups go through :func:`server.privacy.publishable`, and the two-way
tables (the grade migration matrix, the industry × town heatmap) through
:func:`scoring.thematic.suppress_table`; a withheld value is ``None``."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd
from litestar.exceptions import ValidationException
from piccolo.engine.base import Engine

from scoring.credit_index import CreditIndexWeights, index_from_sums
from scoring.feature_store import STORE_KINDS
from scoring.records import INDUSTRY_SECTIONS, RECORD_KINDS
from scoring.risk.rules import RULES
from scoring.thematic import GRADES, suppress_table
from server.engines import url_of
from server.privacy import Group, min_firms, publishable
from server.reports.annual.parts import GROUP_SUMS, YearSums, region_sums, year_sums_on_dask
from server.reports.panel import scored_month_ends
from server.risk.frames import LOCAL
from server.scores.frames import ROW_KINDS_PREDICATE, read_frame
from server.tables.financing import LoanApplication
from server.tables.firms import Firm
from server.tables.fund import FundLedger
from server.tables.ingest import DeptRecord, FirmMonth
from server.tables.policies import PolicyApplication
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory
from server.texts import t

__all__ = ["AnnualFigures", "GroupRow", "check_year", "coverage_counts", "gather"]

_LENT = ("disbursed", "repaid", "defaulted")
_REGION = "*region*"


@dataclass
class GroupRow:
    """An industry or a town at year end: firms scored, mean score, shares of A/B and C/D,
    open red and yellow warnings, and its credit index at year end and its change in the year."""

    code: str
    firms: int
    mean_score: float
    share_ab: float
    share_cd: float
    warned: int
    index_end: float | None
    index_change: float | None


@dataclass
class AnnualFigures:
    year: int
    k: int
    min_firms: int
    registered: int
    start_month: str | None  # the year's first scored month end (YYYY-MM)
    end_month: str | None
    scored_end: int
    mean_score_end: float | None
    index_series: list[tuple[str, float]]  # the region's index, every published month to year end
    index_start: float | None
    index_end: float | None
    section_series: dict[str, list[tuple[str, float]]]
    grades_start: dict[str, int]
    grades_end: dict[str, int]
    migration: dict[tuple[str, str], int | None]  # (from, to) -> firms; None: withheld
    migrated_firms: int
    upgrades: int | None  # None: fewer than K firms besides one moved up or down
    downgrades: int | None
    sections: list[GroupRow]
    towns: list[GroupRow]
    sections_withheld: int
    towns_withheld: int
    heatmap: dict[tuple[str, str], float | None]  # (section, town) -> mean score; None: withheld
    heat_sections: list[str]
    heat_towns: list[str]
    warnings_by_level: dict[str, int]  # first seen in the year
    warnings_by_month: dict[str, dict[str, int]]
    top_rules: list[tuple[str, str, str, int]]  # (rule code, level, title, warnings)
    open_end: dict[str, int]
    loans: dict[str, Any]
    loans_by_month: dict[str, float]
    fund: dict[str, Any]
    policies: dict[str, Any]
    coverage: list[tuple[str, str, str, float, int, int]]  # (source, zh, en, share of firms, months, rows)
    weights: dict[str, float] = field(default_factory=dict)
    defaults_in_year: int = 0


def _end_of(year: int) -> date:
    return date(year, 12, 31)


def check_year(year: int, today: date | None = None) -> None:
    """A full year before the current one (the report is about a closed year)."""
    today = today or datetime.now(UTC).date()
    if not 2000 <= year < today.year:
        raise ValidationException(t("year: a full year before {this}, not {got}", this=today.year, got=year))


def _grades(counts: Counter[str]) -> dict[str, int]:
    return {g: int(counts.get(g, 0)) for g in GRADES}


def _group_rows(groups: pd.DataFrame, scored: int, k: int, index_at: dict[str, tuple[float | None, float | None]]
                ) -> tuple[list[GroupRow], int]:
    """The published rows of one grouping at year end from its sums (``parts.GROUP_SUMS`` per
    code; ``scored``: the firms scored at year end) and how many groups were withheld."""
    need = min_firms(k)
    col = str(groups.index.name)
    tree = [Group("region", _REGION, scored)] + [Group(col, str(c), int(n), _REGION)
                                                  for c, n in groups["firms"].items()]
    allowed = publishable(tree, k) if scored else frozenset()
    rows: list[GroupRow] = []
    for code, firms, score, ab, cd, warned in groups[list(GROUP_SUMS)].itertuples(name=None):
        if str(code) not in allowed or firms < need:
            continue
        i_end, i_change = index_at.get(str(code), (None, None))
        rows.append(GroupRow(code=str(code), firms=int(firms), mean_score=float(score) / int(firms),
                             share_ab=int(ab) / int(firms), share_cd=int(cd) / int(firms),
                             warned=int(warned), index_end=i_end, index_change=i_change))
    rows.sort(key=lambda r: (-r.firms, r.code))
    return rows, len(groups) - len(rows)


def _index_at(series: dict[str, list[dict[str, Any]]], start: pd.Timestamp, end: pd.Timestamp
              ) -> dict[str, tuple[float | None, float | None]]:
    """Per group: the index at the year's end, and its change over the year on an unbroken chain."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for code, points in series.items():
        inside = [p for p in points if start <= p["month"] <= end]
        if not inside or inside[-1]["month"] != end:
            out[code] = (None, None)
            continue
        unbroken = all(not p["restart"] for p in inside[1:])
        out[code] = (float(inside[-1]["index"]),
                     float(inside[-1]["index"] - inside[0]["index"]) if unbroken and len(inside) > 1 else None)
    return out


async def coverage_counts(year: int) -> tuple[Counter[str], Counter[str], dict[str, set[int]]]:
    """Per kind of record, of the current records dated in ``year``: the firms with one, the
    records, and the months (1-12) with one. The monthly feeds (all but a sliver of a region's
    records: at Weihai's density some 700 million a year) are counted from the feature store's
    cells, which count each firm's current records per kind and month; the other kinds from
    their records, found by the partial index ``dept_record_row_kinds``. The same figures as
    counting every record (``tests/integration/test_annual_report.py``)."""
    first_month = (year - 1970) * 12  # months since 1970-01, as the cells count them
    in_cells = ", ".join(f"'{k}'" for k in STORE_KINDS)
    cells_where = (f"WHERE kind IN ({in_cells}) AND rows > 0 AND month >= {first_month} "
                   f"AND month < {first_month + 12}")
    rows_where = (f"WHERE {ROW_KINDS_PREDICATE} AND source NOT IN ({in_cells}) "
                  "AND event_date >= {} AND event_date <= {}")
    span = (date(year, 1, 1), _end_of(year))
    totals = [*await FirmMonth.raw("SELECT kind, COUNT(DISTINCT uscc) AS firms, SUM(rows) AS n "
                                   f"FROM firm_month {cells_where} GROUP BY kind"),
              *await DeptRecord.raw("SELECT source AS kind, COUNT(DISTINCT uscc) AS firms, COUNT(*) AS n "
                                    f"FROM dept_record {rows_where} GROUP BY source", *span)]
    months: dict[str, set[int]] = {}
    for r in await FirmMonth.raw(f"SELECT DISTINCT kind, month FROM firm_month {cells_where}"):
        months.setdefault(r["kind"], set()).add(int(r["month"]) - first_month + 1)
    for r in await DeptRecord.raw(f"SELECT DISTINCT source AS kind, event_date FROM dept_record {rows_where}",
                                  *span):
        months.setdefault(r["kind"], set()).add(_as_date(r["event_date"]).month)
    return (Counter({r["kind"]: int(r["firms"]) for r in totals}), Counter({r["kind"]: int(r["n"]) for r in totals}),
            months)


def _as_date(value: Any) -> date:
    """A date as the engine's driver gives it (a ``date`` on PostgreSQL, ISO text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def _sums(engine: Engine, year: int, first: pd.Timestamp, last: pd.Timestamp, recipients: set[int],
                dask: str | None) -> YearSums:
    """The region's :class:`YearSums`: read and summed here, or by the workers of the Dask
    cluster at ``dask`` (each its own part of the firms; this process only adds)."""
    if not dask:
        return await region_sums(engine, year, first, last, recipients)
    usccs = (await read_frame(engine, "SELECT uscc FROM firm ORDER BY id"))["uscc"].astype(str).tolist()
    return await asyncio.to_thread(year_sums_on_dask, dask, url_of(engine), usccs, year, first, last, recipients)


async def gather(year: int, k: int, *, dask: str | None = None) -> AnnualFigures:
    """Every number of the report on ``year`` with the minimum group size ``k``; the figures
    of the firm-month panel summed on the Dask cluster at ``dask`` when given (the same
    figures: see :mod:`server.reports.annual.parts`)."""
    check_year(year)
    need = min_firms(k)
    engine: Engine = ScoreHistory._meta.db
    months = await scored_month_ends(engine, date(year, 1, 1), _end_of(year))
    if not months:
        raise ValidationException(t("year: no scores are stored for {year}", year=year))
    first, last = months[0], months[-1]
    year_start = datetime.combine(date(year, 1, 1), time.min, LOCAL)
    year_end = datetime.combine(date(year + 1, 1, 1), time.min, LOCAL)
    apps = await PolicyApplication.select(PolicyApplication.firm, PolicyApplication.status,
                                          PolicyApplication.created_at)
    in_year_apps = [a for a in apps if year_start <= a["created_at"] < year_end]
    recipients = {a["firm"] for a in in_year_apps if a["status"] == "approved"}
    sums = await _sums(engine, year, first, last, recipients, dask)

    weights = CreditIndexWeights()
    _base, region = index_from_sums(sums.index["region"], min_firms=need, weights=weights)
    _base, by_section = index_from_sums(sums.index["section"], min_firms=need, weights=weights)
    _base, by_town = index_from_sums(sums.index["town"], min_firms=need, weights=weights)
    region_points = [p for p in region.get("all", []) if p["month"] <= last]
    index_series = [(p["month"].strftime("%Y-%m"), float(p["index"])) for p in region_points]
    in_year_points = [p for p in region_points if p["month"] >= first]
    section_series = {code: [(p["month"].strftime("%Y-%m"), float(p["index"])) for p in pts if p["month"] <= last]
                      for code, pts in by_section.items()}

    # grade migration: firms scored at both ends of the year
    cells = {(a, b): int(sums.migration.get((a, b), 0)) for a in GRADES for b in GRADES}
    shown = suppress_table(cells, need)
    migration = {c: (n if c in shown else None) for c, n in cells.items()}
    rank = {g: i for i, g in enumerate(GRADES)}
    upgrades: int | None = int(sum(n for (a, b), n in cells.items() if rank[b] < rank[a]))
    downgrades: int | None = int(sum(n for (a, b), n in cells.items() if rank[b] > rank[a]))
    if min(upgrades or 0, downgrades or 0) < need:  # both, or neither (else one follows from the other)
        upgrades = downgrades = None

    sections, sections_withheld = _group_rows(sums.groups["industry_section"], sums.end_firms, k,
                                              _index_at(by_section, first, last))
    towns, towns_withheld = _group_rows(sums.groups["town"], sums.end_firms, k, _index_at(by_town, first, last))
    counts = {key: int(n) for key, n in sums.heat["firms"].items()}
    heat_shown = suppress_table(counts, need)
    heatmap = {key: (float(score) / int(n) if key in heat_shown else None)
               for key, n, score in sums.heat[["firms", "score"]].itertuples(name=None)}
    heat_sections = [r.code for r in sections]
    heat_towns = [r.code for r in towns]

    year_start = datetime.combine(date(year, 1, 1), time.min, LOCAL)
    year_end = datetime.combine(date(year + 1, 1, 1), time.min, LOCAL)
    wrows = await Warning.select(Warning.rule_code, Warning.level, Warning.first_seen, Warning.opened_at,
                                 Warning.closed_at, Warning.message_zh, Warning.kind).order_by(Warning.id)
    by_level: Counter[str] = Counter()
    by_month: dict[str, Counter[str]] = {f"{year}-{m:02d}": Counter() for m in range(1, 13)}
    rules: Counter[tuple[str, str]] = Counter()
    open_end: Counter[str] = Counter()
    for w in wrows:
        seen = w["first_seen"] or w["opened_at"].astimezone(LOCAL).date()
        if seen.year == year:
            by_level[w["level"]] += 1
            by_month[f"{year}-{seen.month:02d}"][w["level"]] += 1
            rules[(w["rule_code"], w["level"])] += 1
        opened = w["opened_at"]
        if opened < year_end and (w["closed_at"] is None or w["closed_at"] >= year_end) and seen.year <= year:
            open_end[w["level"]] += 1
    titles = {code: (r.title_zh, r.title_en) for code, r in RULES.items()}
    top_rules = [(code, level, "|".join(titles.get(code, (code, code))), n)
                 for (code, level), n in rules.most_common(10)]

    loans = pd.DataFrame(await LoanApplication.select(
        LoanApplication.id, LoanApplication.firm, LoanApplication.status, LoanApplication.amount_fen, LoanApplication.approved_amount_fen,
        LoanApplication.created_at, LoanApplication.decided_at,
    ), columns=["id", "firm", "status", "amount_fen", "approved_amount_fen", "created_at", "decided_at"])
    loan_figures: dict[str, Any] = {"applications": 0, "approved": 0, "declined": 0, "lent_yuan": 0.0,
                                    "defaulted": 0, "defaulted_yuan": 0.0, "npl_ratio": None}
    loans_by_month = {f"{year}-{m:02d}": 0.0 for m in range(1, 13)}
    if len(loans):
        created = pd.to_datetime(loans["created_at"], utc=True).dt.tz_convert(LOCAL)
        mine = loans[created.dt.year == year].copy()
        mine_created = created[created.dt.year == year]
        amount = mine["approved_amount_fen"].fillna(0).astype(float) / 100
        lent = mine["status"].isin(_LENT)
        loan_figures.update(
            applications=len(mine), approved=int(mine["status"].isin(("approved", *_LENT)).sum()),
            declined=int((mine["status"] == "declined").sum()), lent_yuan=float(amount[lent].sum()),
            defaulted=int((mine["status"] == "defaulted").sum()),
            defaulted_yuan=float(amount[mine["status"] == "defaulted"].sum()))
        if loan_figures["lent_yuan"] > 0:
            loan_figures["npl_ratio"] = loan_figures["defaulted_yuan"] / loan_figures["lent_yuan"]
        counted: Counter[str] = Counter()
        for month, a, was_lent in zip(mine_created.dt.strftime("%Y-%m"), amount, lent, strict=True):
            if was_lent:
                loans_by_month[month] += float(a)
                counted[month] += 1
        for month in loans_by_month:  # a month of a few loans would show those loans' amounts
            if 0 < counted[month] < need:
                loans_by_month[month] = float("nan")
        borrowers = mine.loc[lent, "firm"].nunique()
        if 0 < borrowers < need:
            loan_figures.update(lent_yuan=None, defaulted_yuan=None, npl_ratio=None)

    ledger = await FundLedger.select(FundLedger.kind, FundLedger.amount_fen, FundLedger.at)
    fund: dict[str, Any] = {"covers": 0, "cover_yuan": 0.0, "claims": 0, "claim_yuan": 0.0,
                            "releases": 0, "recoveries_yuan": 0.0}
    for e in ledger:
        if not year_start <= e["at"] < year_end:
            continue
        yuan = (e["amount_fen"] or 0) / 100
        if e["kind"] == "cover":
            fund["covers"] += 1
            fund["cover_yuan"] += yuan
        elif e["kind"] == "claim":
            fund["claims"] += 1
            fund["claim_yuan"] += yuan
        elif e["kind"] == "release":
            fund["releases"] += 1
        elif e["kind"] == "recovery":
            fund["recoveries_yuan"] += yuan

    for n_key, amount_keys in (("covers", ("cover_yuan",)), ("claims", ("claim_yuan", "recoveries_yuan"))):
        if 0 < fund[n_key] < need:  # a few entries' sum is those firms' own figure
            fund.update({k: None for k in amount_keys})

    statuses = Counter(a["status"] for a in in_year_apps)
    moved = sums.recipients
    policy: dict[str, Any] = {"applications": len(in_year_apps), "approved": statuses.get("approved", 0),
                              "rejected": statuses.get("rejected", 0), "pending": statuses.get("pending", 0),
                              "recipients": len(recipients), "up": None, "same": None, "down": None}
    if moved["moved"] >= need:  # what became of the recipients, only for enough of them
        policy.update(up=int(moved["up"]), same=int(moved["same"]), down=int(moved["down"]))

    registered = await Firm.count()
    firms_of, rows_of, months_of = await coverage_counts(year)
    coverage = []
    for source in sorted(firms_of, key=lambda s: -firms_of[s]):
        kind = RECORD_KINDS.get(source)
        zh, en = (kind.name_zh, kind.name_en) if kind else (source, source)
        coverage.append((source, zh, en, firms_of[source] / registered if registered else 0.0,
                         len(months_of.get(source, ())), int(rows_of[source])))

    return AnnualFigures(
        year=year, k=k, min_firms=need, registered=registered,
        start_month=first.strftime("%Y-%m"), end_month=last.strftime("%Y-%m"),
        scored_end=sums.end_firms, mean_score_end=sums.end_score / sums.end_firms if sums.end_firms else None,
        index_series=index_series,
        index_start=float(in_year_points[0]["index"]) if in_year_points else None,
        index_end=float(in_year_points[-1]["index"]) if in_year_points else None,
        section_series=section_series, grades_start=_grades(sums.grades_start), grades_end=_grades(sums.grades_end),
        migration=migration, migrated_firms=sum(cells.values()), upgrades=upgrades, downgrades=downgrades,
        sections=sections, towns=towns, sections_withheld=sections_withheld, towns_withheld=towns_withheld,
        heatmap=heatmap, heat_sections=heat_sections, heat_towns=heat_towns,
        warnings_by_level={lv: int(by_level.get(lv, 0)) for lv in ("red", "yellow", "blue")},
        warnings_by_month={m: {lv: int(c.get(lv, 0)) for lv in ("red", "yellow", "blue")} for m, c in by_month.items()},
        top_rules=top_rules, open_end={lv: int(open_end.get(lv, 0)) for lv in ("red", "yellow", "blue")},
        loans=loan_figures, loans_by_month=loans_by_month, fund=fund, policies=policy, coverage=coverage,
        weights=asdict(weights),
        defaults_in_year=sums.defaults,
    )


def section_name(code: str, lang: str) -> str:
    if code in INDUSTRY_SECTIONS:
        return INDUSTRY_SECTIONS[code][2 if lang == "zh" else 3]
    return code
