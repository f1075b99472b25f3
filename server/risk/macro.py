"""The monthly macro risk index per region, industry section and town, from grades, warnings
and defaults, published only for groups of at least K firms."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from piccolo.engine.base import Engine

from scoring.records import INDUSTRY_SECTIONS
from scoring.risk.macro import SUMS as MACRO_SUMS
from scoring.risk.macro import macro_index, merge_groups
from server import db
from server.privacy import Group, min_firms, publishable
from server.risk.frames import (
    LOCAL,
    latest_snapshot,
    load_first_defaults,
    load_scores,
    region_day,
    to_json,
)
from server.risk.schemas import (
    MacroGroup,
    MacroOut,
    ScanSummary,
)
from server.scores.frames import load_firms
from server.tables.risk import RiskSnapshot, Warning

log = logging.getLogger("xinbao.risk")


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
    month = _month_of(region_day(as_of))
    firms = await load_firms(engine)
    grades = await load_scores(month - timedelta(days=400))
    grades = grades[grades["as_of"] <= pd.Timestamp(month)]
    start = month.replace(day=1)
    rows = await Warning.select(
        Warning.firm.uscc.as_alias("uscc"), Warning.level, Warning.opened_at, Warning.closed_at,
    ).where((Warning.opened_at < datetime.combine(month + timedelta(days=1), datetime.min.time(),
                                                  LOCAL))
            & (Warning.closed_at.is_null()
               | (Warning.closed_at >= datetime.combine(start, datetime.min.time(), LOCAL))))
    warnings = pd.DataFrame(rows, columns=["uscc", "level", "opened_at", "closed_at"])
    for c in ("opened_at", "closed_at"):
        warnings[c] = pd.to_datetime(warnings[c], utc=True)
    defaults = await load_first_defaults()
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
        await RiskSnapshot.insert(RiskSnapshot(kind="macro", as_of=month, data=to_json(data),
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
    snap = await latest_snapshot("macro")
    scan_snap = await latest_snapshot("scan_full", "scan_incremental")
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
