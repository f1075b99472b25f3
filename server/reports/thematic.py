"""Thematic analysis for the region's analysts (issue 14): groups of firms (industries, towns,
size classes), industry clusters by location quotient, and public-resource use, read from the
stored data and computed by :mod:`scoring.thematic`.

Every figure is about a group, and a group is published only with at least ``min_firms(k)``
firms. Lists of groups go through :func:`server.privacy.publishable` with their parent, and the
clusters' industry × town table through :func:`scoring.thematic.suppress_table`, so no withheld
group can be recovered as a total minus the groups shown. See docs/thematic-analysis.md."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from litestar.exceptions import ValidationException
from piccolo.query.functions.aggregate import Count, Max, Sum

from scoring.records import INDUSTRY_SECTIONS
from scoring.thematic import (
    FIRM_FRAME_COLUMNS,
    GRADES,
    RESOURCES,
    group_figures,
    location_quotients,
    resource_intensity,
    robust_outliers,
    suppress_table,
)
from server import db
from server.fund.services import closed_covers
from server.privacy import Group, min_firms, publishable
from server.reports.schemas import (
    ClusterCell,
    ClustersOut,
    GroupFigures,
    GroupsOut,
    ResourceRow,
    ResourcesOut,
    TrendPoint,
)
from server.tables.financing import ApplicationEvent, LoanApplication
from server.tables.firms import Firm
from server.tables.fund import FundLedger
from server.tables.ingest import DeptRecord
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory
from server.texts import t

__all__ = ["GROUP_DIMENSIONS", "clusters_report", "groups_report", "load_firm_frame", "resources_report"]

GROUP_DIMENSIONS = {"section": "section", "division": "division", "town": "town", "size": "size"}
TREND_MONTHS = 24
_LENT = ("approved", "disbursed", "repaid", "defaulted")
_REGION = "*region*"


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _months_back(month_end: date, n: int) -> date:
    """The last day of the month ``n`` months before ``month_end``'s month."""
    y, m = divmod(month_end.year * 12 + month_end.month - 1 - n, 12)
    return _month_end(date(y, m + 1, 1))


async def data_key() -> tuple[Any, ...]:
    """What the firm table and the credit index's panel are read from, cheaply: the newest row
    of every table they read (a correction, a new or closed warning, a loan's new status or a
    fund entry each changes one), and which database."""
    engine = Firm._meta.db  # one process may serve several databases (the tests do)
    out: list[Any] = [db.engine_key(engine)]
    for column in (Firm.updated_at, DeptRecord.id, ScoreHistory.id, Warning.id, Warning.updated_at,
                   ApplicationEvent.id, LoanApplication.id, FundLedger.id):
        row = await column._meta.table.select(Max(column).as_alias("m")).first()
        out.append(None if row is None else row["m"])
    out.append(await Firm.count())
    return tuple(out)


_cached: tuple[tuple[Any, ...], tuple[pd.DataFrame, pd.DataFrame, date | None]] | None = None


async def load_firm_frame() -> tuple[pd.DataFrame, pd.DataFrame, date | None]:
    """:func:`read_firm_frame`, kept while the data it was read from is unchanged (the three
    thematic screens ask for it one after another). Callers must not modify the frames."""
    global _cached
    key = await data_key()
    if _cached is not None and _cached[0] == key:
        return _cached[1]
    frames = await read_firm_frame()
    _cached = (key, frames)
    return frames


async def read_firm_frame() -> tuple[pd.DataFrame, pd.DataFrame, date | None]:
    """One row per registered firm (``FIRM_FRAME_COLUMNS``), the monthly trend of tax and
    insured headcount per firm over ``TREND_MONTHS`` months (``firm, month, tax_yuan,
    headcount``), and the month the figures end with: the latest scoring date. Tax, headcount
    (mean insured over the months reported) and resource use are over the twelve months to it."""
    firms = pd.DataFrame(await Firm.select(
        Firm.id.as_alias("firm"), Firm.uscc, Firm.industry_section.as_alias("section"),
        Firm.industry_division.as_alias("division"), Firm.town, Firm.size_class.as_alias("size"),
    ).order_by(Firm.id), columns=["firm", "uscc", "section", "division", "town", "size"])
    latest = await ScoreHistory.select(ScoreHistory.as_of).order_by(ScoreHistory.as_of, ascending=False).first()
    as_of: date | None = latest["as_of"] if latest else None
    if as_of is None:
        latest_rows = await DeptRecord.select(DeptRecord.event_date).order_by(
            DeptRecord.event_date, ascending=False).first()
        as_of = latest_rows["event_date"] if latest_rows else None
    frame = firms.copy()
    for c in FIRM_FRAME_COLUMNS:
        if c not in frame.columns:
            frame[c] = np.nan if c in ("grade", "score") else 0.0
    frame["grade"] = None
    trend = pd.DataFrame(columns=["firm", "month", "tax_yuan", "headcount"])
    if as_of is None or frame.empty:
        return frame[list(FIRM_FRAME_COLUMNS)], trend, as_of
    end = _month_end(as_of)
    start12, start24 = _months_back(end, 12), _months_back(end, TREND_MONTHS)

    scores = pd.DataFrame(await ScoreHistory.select(
        ScoreHistory.firm, ScoreHistory.run, ScoreHistory.score, ScoreHistory.grade,
    ).where(ScoreHistory.as_of == as_of), columns=["firm", "run", "score", "grade"])
    if len(scores):
        scores = scores.sort_values(["firm", "run"]).drop_duplicates("firm", keep="last").set_index("firm")
        frame["score"] = frame["firm"].map(scores["score"]).astype(float)
        frame["grade"] = frame["firm"].map(scores["grade"])

    warned = await Warning.select(Warning.firm, Warning.level, Count(Warning.id).as_alias("n")).where(
        Warning.closed_at.is_null()).group_by(Warning.firm, Warning.level)
    for level in ("red", "yellow", "blue"):
        counts = {r["firm"]: r["n"] for r in warned if r["level"] == level}
        frame[level] = frame["firm"].map(counts).fillna(0).astype(int)

    uses = await DeptRecord.select(
        DeptRecord.uscc, DeptRecord.category, Sum(DeptRecord.quantity).as_alias("q"),
    ).where((DeptRecord.source == "utility") & DeptRecord.superseded_at.is_null()
            & (DeptRecord.event_date > start12) & (DeptRecord.event_date <= end)
            ).group_by(DeptRecord.uscc, DeptRecord.category)
    for r in RESOURCES:
        per = {u["uscc"]: float(u["q"] or 0) for u in uses if u["category"] == r}
        frame[r] = frame["uscc"].map(per).fillna(0.0)

    monthly = pd.DataFrame(await DeptRecord.select(
        DeptRecord.uscc, DeptRecord.source, DeptRecord.category, DeptRecord.event_date,
        DeptRecord.amount_fen, DeptRecord.quantity,
    ).where(DeptRecord.source.is_in(["tax_monthly", "social_insurance"]) & DeptRecord.superseded_at.is_null()
            & (DeptRecord.event_date > start24) & (DeptRecord.event_date <= end)),
        columns=["uscc", "source", "category", "event_date", "amount_fen", "quantity"])
    firm_of = dict(zip(firms["uscc"], firms["firm"], strict=True))
    if len(monthly):
        monthly["firm"] = monthly["uscc"].map(firm_of)
        monthly = monthly.dropna(subset=["firm"])
        monthly["month"] = pd.to_datetime(monthly["event_date"]).dt.strftime("%Y-%m")
        tax = monthly[monthly["source"] == "tax_monthly"].groupby(["firm", "month"])["amount_fen"].sum() / 100
        heads = monthly[(monthly["source"] == "social_insurance") & (monthly["category"] == "pension")
                        ].groupby(["firm", "month"])["quantity"].max()
        trend = pd.concat([tax.rename("tax_yuan"), heads.rename("headcount")], axis=1).fillna(0.0).reset_index()
        last12 = trend[trend["month"] > start12.strftime("%Y-%m")]
        frame["tax_yuan"] = frame["firm"].map(last12.groupby("firm")["tax_yuan"].sum()).fillna(0.0)
        reported = last12[last12["headcount"] > 0].groupby("firm")["headcount"].mean()
        frame["headcount"] = frame["firm"].map(reported).fillna(0.0)

    loans = pd.DataFrame(await LoanApplication.select(
        LoanApplication.firm, LoanApplication.status, LoanApplication.approved_amount_fen,
    ), columns=["firm", "status", "approved_amount_fen"])
    if len(loans):
        amount = loans["approved_amount_fen"].fillna(0).astype(float) / 100
        frame["loans"] = frame["firm"].map(loans.groupby("firm").size()).fillna(0).astype(int)
        lent = loans.assign(a=amount)[loans["status"].isin(_LENT)]
        frame["loan_amount_yuan"] = frame["firm"].map(lent.groupby("firm")["a"].sum()).fillna(0.0)
        out = loans.assign(a=amount)[loans["status"] == "disbursed"]
        frame["outstanding_yuan"] = frame["firm"].map(out.groupby("firm")["a"].sum()).fillna(0.0)
    closed = closed_covers()
    covers = await FundLedger.select(
        FundLedger.application.firm.as_alias("firm"), Sum(FundLedger.amount_fen).as_alias("fen"),
    ).where((FundLedger.kind == "cover") & FundLedger.application.not_in(closed)).group_by(
        FundLedger.application.firm)
    frame["fund_exposure_yuan"] = frame["firm"].map(
        {c["firm"]: (c["fen"] or 0) / 100 for c in covers}).fillna(0.0)
    return frame[list(FIRM_FRAME_COLUMNS)], trend, end


def _names(by: str, code: str) -> tuple[str, str]:
    if by == "section" and code in INDUSTRY_SECTIONS:
        return INDUSTRY_SECTIONS[code][2], INDUSTRY_SECTIONS[code][3]
    if by == "division":
        return f"{code} 大类", f"Division {code}"
    if by == "size":
        return {"micro": ("微型", "Micro"), "small": ("小型", "Small"), "medium": ("中型", "Medium"),
                "large": ("大型", "Large")}.get(code, (code, code))
    if by == "region":
        return "全区", "Whole region"
    return code, code


def _figures(by: str, code: str, row: Any, trend: pd.DataFrame | None, need: int) -> GroupFigures:
    zh, en = _names(by, code)
    points: list[TrendPoint] = []
    if trend is not None and len(trend):
        points = [TrendPoint(month=m, tax_yuan=round(float(r["tax_yuan"]), 2), headcount=round(float(r["headcount"]), 1))
                  for m, r in trend.iterrows()]
    mean = row["mean_score"]
    return GroupFigures(
        group=code, name_zh=zh, name_en=en, firms=int(row["firms"]),
        grades={g: int(row[f"grade_{g}"]) for g in GRADES},
        mean_score=None if pd.isna(mean) else round(float(mean), 1),
        warnings={lv: int(row[lv]) for lv in ("red", "yellow", "blue")},
        tax_yuan=round(float(row["tax_yuan"]), 2), headcount=round(float(row["headcount"]), 1),
        loans=int(row["loans"]), loan_amount_yuan=_sum_of(row, "loan_amount_yuan", need),
        outstanding_yuan=_sum_of(row, "outstanding_yuan", need),
        fund_exposure_yuan=_sum_of(row, "fund_exposure_yuan", need), trend=points)


def _sum_of(row: Any, column: str, need: int) -> float | None:
    """A group's sum of ``column``, or None when fewer than ``need`` of its firms make it up (a
    sum of one firm's loan is that firm's loan, however large the group); 0 when none do."""
    n = int(row[f"n_{column}"])
    if 0 < n < need:
        return None
    return round(float(row[column]), 2)


def _trend_of(trend: pd.DataFrame, firms: pd.Series) -> pd.DataFrame:
    """The monthly sums over ``firms`` (tax, headcount), by month."""
    if trend.empty:
        return trend
    return trend[trend["firm"].isin(set(firms))].groupby("month")[["tax_yuan", "headcount"]].sum()


def _check(field: str, value: str | None, allowed: set[str]) -> None:
    if value is not None and value not in allowed:
        raise ValidationException(t("{field}: no such group {got!r}", field=field, got=value[:50]))


async def groups_report(by: str, section: str | None, k: int) -> GroupsOut:
    """The groups of one dimension with their figures and monthly trend: the whole region's
    industries (sections), size classes or towns, or one industry's divisions (``section``).
    Groups are chosen by :func:`publishable` under their parent (region → section → division,
    region → town, region → size), so the parent minus the groups shown is 0 or ≥ K firms."""
    if section is not None and by != "division":
        raise ValidationException(t("section: only with by=division (an industry's divisions)"))
    frame, trend, end = await load_firm_frame()
    need = min_firms(k)
    _check("section", section, set(frame["section"].dropna()) | set(INDUSTRY_SECTIONS))
    col = GROUP_DIMENSIONS[by]
    figs = group_figures(frame, col).set_index(col)
    if by == "division":
        sections = group_figures(frame, "section").set_index("section")
        pairs = frame.groupby("division")["section"].first()
        tree = [Group("region", _REGION, len(frame))]
        tree += [Group("section", f"s:{s}", int(r["firms"]), _REGION) for s, r in sections.iterrows()]
        tree += [Group("division", d, int(r["firms"]), f"s:{pairs[d]}") for d, r in figs.iterrows()]
        allowed = publishable(tree, k)
        whole_code = section
        members = frame[frame["section"] == section] if section else frame
        codes = [d for d in figs.index if section is None or pairs[d] == section]
        whole_ok = (f"s:{section}" in allowed) if section else (_REGION in allowed)
    else:
        tree = [Group("region", _REGION, len(frame))]
        tree += [Group(by, str(g), int(r["firms"]), _REGION) for g, r in figs.iterrows()]
        allowed = publishable(tree, k)
        whole_code, members, codes = None, frame, list(figs.index)
        whole_ok = _REGION in allowed
    if not whole_ok:
        return GroupsOut(by=by, section=section, month=end.strftime("%Y-%m") if end else None, k=k,
                         min_firms=need, whole=None, groups=[], suppressed=len(codes))
    whole_row = group_figures(members.assign(_all="*"), "_all").iloc[0]
    whole = _figures("section" if section else "region", whole_code or "*", whole_row,
                     _trend_of(trend, members["firm"]), need)
    shown = [c for c in codes if str(c) in allowed]
    groups = [_figures(by, str(c), figs.loc[c], _trend_of(trend, frame.loc[frame[col] == c, "firm"]), need)
              for c in shown]
    groups.sort(key=lambda g: (-g.firms, g.group))
    return GroupsOut(by=by, section=section, month=end.strftime("%Y-%m") if end else None, k=k,
                     min_firms=need, whole=whole, groups=groups, suppressed=len(codes) - len(shown))


async def clusters_report(min_lq: float, section: str | None, town: str | None, k: int) -> ClustersOut:
    """Industry clusters (块状经济): the (division, town) cells whose location quotient by
    firms is at least ``min_lq``, with their LQ by tax and by headcount and the cell's figures.
    Cells come from the division × town table after :func:`suppress_table`, so a withheld cell
    cannot be recovered from a division's or a town's total (both are published elsewhere)."""
    if not min_lq > 0 or not np.isfinite(min_lq):
        raise ValidationException(t("min_lq: must be a number above 0"))
    frame, trend, end = await load_firm_frame()
    _check("section", section, set(frame["section"].dropna()) | set(INDUSTRY_SECTIONS))
    _check("town", town, set(frame["town"].dropna()))
    need = min_firms(k)
    counts = frame.groupby(["division", "town"]).size()
    shown_cells = suppress_table({key: int(n) for key, n in counts.items()}, need)
    lq = location_quotients(frame, "division", "town")
    lq_tax = location_quotients(frame, "division", "town", "tax_yuan")
    lq_heads = location_quotients(frame, "division", "town", "headcount")
    figs = group_figures(frame, ["division", "town"]).set_index(["division", "town"])
    sections = frame.groupby("division")["section"].first()
    cells: list[ClusterCell] = []
    for key in sorted(shown_cells):
        d, tw = key
        value = float(lq.get(key, np.nan))
        if not np.isfinite(value) or value < min_lq:
            continue
        if (section is not None and sections.get(d) != section) or (town is not None and tw != town):
            continue
        in_cell = frame.loc[(frame["division"] == d) & (frame["town"] == tw), "firm"]
        f = _figures("division", d, figs.loc[key], _trend_of(trend, in_cell), need)

        def _num(s: pd.Series, key: tuple[Any, Any] = key) -> float | None:
            v = float(s.get(key, np.nan))
            return round(v, 3) if np.isfinite(v) else None

        cells.append(ClusterCell(division=d, section=str(sections.get(d, "")), town=str(tw),
                                 lq_firms=round(value, 3), lq_tax=_num(lq_tax), lq_headcount=_num(lq_heads),
                                 figures=f))
    cells.sort(key=lambda c: (-c.lq_firms, c.division, c.town))
    return ClustersOut(month=end.strftime("%Y-%m") if end else None, k=k, min_firms=need, min_lq=min_lq,
                       cells=cells, suppressed=sum(
                           1 for (d, tw), n in counts.items()
                           if n and (d, tw) not in shown_cells and (section is None or sections.get(d) == section)
                           and (town is None or tw == town)))


async def resources_report(by: str, k: int) -> ResourcesOut:
    """Electricity, water and gas over the last twelve months per 10,000 yuan of tax and per
    insured head, by industry (section or division) or town; outliers named as groups (the
    modified z-score over the groups shown), never as firms."""
    frame, _trend, end = await load_firm_frame()
    need = min_firms(k)
    col = GROUP_DIMENSIONS[by]
    figs = group_figures(frame, col).set_index(col)
    tree = [Group("region", _REGION, len(frame))]
    if by == "division":
        sections = group_figures(frame, "section").set_index("section")
        pairs = frame.groupby("division")["section"].first()
        tree += [Group("section", f"s:{s}", int(r["firms"]), _REGION) for s, r in sections.iterrows()]
        tree += [Group("division", d, int(r["firms"]), f"s:{pairs[d]}") for d, r in figs.iterrows()]
    else:
        tree += [Group(by, str(g), int(r["firms"]), _REGION) for g, r in figs.iterrows()]
    allowed = publishable(tree, k)
    shown = figs[[str(g) in allowed for g in figs.index]]
    ratios = resource_intensity(shown)
    flagged: dict[str, set[Any]] = {c: robust_outliers(ratios[c].to_dict(), log=True) for c in ratios.columns}
    rows: list[ResourceRow] = []
    for g, r in shown.iterrows():
        zh, en = _names(by, str(g))
        values = {c: (None if pd.isna(ratios.at[g, c]) else round(float(ratios.at[g, c]), 3)) for c in ratios.columns}
        rows.append(ResourceRow(group=str(g), name_zh=zh, name_en=en, firms=int(r["firms"]),
                                use={res: round(float(r[res]), 1) for res in RESOURCES},
                                tax_yuan=round(float(r["tax_yuan"]), 2), headcount=round(float(r["headcount"]), 1),
                                intensity=values, outliers=sorted(c for c, keys in flagged.items() if g in keys)))
    rows.sort(key=lambda x: (-len(x.outliers), -x.firms, x.group))
    start = _months_back(end, 12) + timedelta(days=1) if end else None
    return ResourcesOut(by=by, k=k, min_firms=need, start=start.strftime("%Y-%m") if start else None,
                        end=end.strftime("%Y-%m") if end else None, rows=rows,
                        suppressed=len(figs) - len(shown))
