"""Two more thematic lenses for the region's analysts (issue 14): where the special funds went
(guarantee-fund cover and support policies, with the supported projects' money and state) and
what became of the firms that got them, and
guarantee-chain risk by town or industry. Aggregates of at least ``min_firms(k)`` firms, lists
through :func:`server.privacy.publishable`; see docs/thematic-analysis.md."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import pandas as pd

from scoring.graph import build_network, find_circles
from scoring.thematic import GRADES
from server.fund.services import closed_covers
from server.privacy import Group, min_firms, publishable
from server.reports.schemas import ChainGroup, ChainsOut, FlowGroup, FundFlowsOut
from server.risk.frames import LOCAL, load_first_defaults, load_guarantees, region_day
from server.tables.financing import LoanApplication
from server.tables.firms import Firm
from server.tables.fund import FundLedger
from server.tables.policies import PolicyApplication
from server.tables.projects import Project
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory

__all__ = ["chains_report", "fund_flows_report"]

_REGION = "*region*"
_PROJECT_STATUSES = ("on_track", "behind", "failed", "completed")
#: Per supported firm: what it received and what became of its projects.
_AMOUNTS = ("covers", "cover_yuan", "claims", "claim_yuan", "policies", "grant_yuan",
            *(f"project_{s}" for s in _PROJECT_STATUSES))
_RANK = {g: i for i, g in enumerate(GRADES)}


def _enough(values: pd.Series, need: int) -> float | None:
    """The sum of the firms' amounts, or None when fewer than ``need`` firms make it up (one
    firm's cover is that firm's figure however many firms the group holds); 0 when none do."""
    n = int((values > 0).sum())
    return None if 0 < n < need else round(float(values.sum()), 2)


async def _firms() -> pd.DataFrame:
    return pd.DataFrame(await Firm.select(
        Firm.id.as_alias("firm"), Firm.uscc, Firm.industry_section.as_alias("section"), Firm.town,
    ), columns=["firm", "uscc", "section", "town"]).set_index("firm")


async def _scores() -> pd.DataFrame:
    """Every stored score: firm, as_of, run, grade, pd (sorted by date and run)."""
    rows = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.as_of, ScoreHistory.run, ScoreHistory.grade,
                                     ScoreHistory.pd)
    frame = pd.DataFrame(rows, columns=["firm", "as_of", "run", "grade", "pd"])
    return frame.sort_values(["as_of", "run"], kind="stable")


def _grade_at(scores: pd.DataFrame, firm: int, day: date) -> str | None:
    """The firm's grade on its latest score on or before ``day`` (else its first score)."""
    mine = scores[scores["firm"] == firm]
    if mine.empty:
        return None
    before = mine[mine["as_of"] <= day]
    return str((before if len(before) else mine).iloc[-1]["grade"])


async def fund_flows_report(by: str, k: int) -> FundFlowsOut:
    """Guarantee-fund cover and support policies per group of ``by`` (grade at support, industry
    section or town): money and firms, and since support the firms' grade movement to their
    latest score and their defaults. A firm supported more than once counts once, at its first
    support."""
    need = min_firms(k)
    firms, scores = await _firms(), await _scores()
    latest = scores.drop_duplicates("firm", keep="last").set_index("firm")["grade"] if len(scores) else pd.Series()
    covers = await FundLedger.select(
        FundLedger.kind, FundLedger.amount_fen, FundLedger.at, FundLedger.application,
        FundLedger.application.firm.as_alias("firm"), FundLedger.application.grade_at_apply.as_alias("grade"),
    ).where(FundLedger.kind.is_in(["cover", "claim"]) & FundLedger.application.is_not_null())
    policies = await PolicyApplication.select(PolicyApplication.firm, PolicyApplication.decided_at).where(
        PolicyApplication.status == "approved")
    defaulted_loans = {r["firm"] for r in await LoanApplication.select(LoanApplication.firm).where(
        LoanApplication.status == "defaulted")}
    defaults = await load_first_defaults()
    first_default = {u: d.date() if hasattr(d, "date") else d
                     for u, d in zip(defaults["uscc"], defaults["default_date"], strict=True)}

    support: dict[int, tuple[date, str | None]] = {}  # firm -> (first support day, grade then)

    def supported(firm: int, day: date, grade: str | None) -> None:
        if firm not in support or day < support[firm][0]:
            support[firm] = (day, grade or _grade_at(scores, firm, day))

    per_firm: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for c in covers:
        day = c["at"].astimezone(LOCAL).date()
        if c["kind"] == "cover":
            supported(c["firm"], day, c["grade"] or None)
            per_firm[c["firm"]]["covers"] += 1
            per_firm[c["firm"]]["cover_yuan"] += (c["amount_fen"] or 0) / 100
        else:
            per_firm[c["firm"]]["claims"] += 1
            per_firm[c["firm"]]["claim_yuan"] += (c["amount_fen"] or 0) / 100
    for p in policies:
        day = p["decided_at"].astimezone(LOCAL).date() if p["decided_at"] else region_day(None)
        supported(p["firm"], day, None)
        per_firm[p["firm"]]["policies"] += 1
    for p in await Project.select(Project.firm, Project.granted_fen, Project.status):
        per_firm[p["firm"]]["grant_yuan"] += (p["granted_fen"] or 0) / 100
        per_firm[p["firm"]][f"project_{p['status']}"] += 1

    rows = []
    for firm, (day, grade) in support.items():
        if firm not in firms.index:
            continue
        now = latest.get(firm)
        move = None if grade is None or now is None or grade not in _RANK or now not in _RANK else (
            "up" if _RANK[now] < _RANK[grade] else "down" if _RANK[now] > _RANK[grade] else "same")
        d = first_default.get(firms.at[firm, "uscc"])
        rows.append({"firm": firm, "grade": grade or "—", "section": firms.at[firm, "section"],
                     "town": firms.at[firm, "town"], "move": move,
                     "defaulted": bool((d is not None and d >= day) or firm in defaulted_loans),
                     **{key: per_firm[firm].get(key, 0.0) for key in _AMOUNTS}})
    frame = pd.DataFrame(rows, columns=["firm", "grade", "section", "town", "move", "defaulted", *_AMOUNTS])
    col = {"grade": "grade", "section": "section", "town": "town"}[by]
    sizes = frame.groupby(col).size() if len(frame) else pd.Series(dtype=int)
    tree = [Group("region", _REGION, len(frame))] + [Group(by, str(g), int(n), _REGION) for g, n in sizes.items()]
    allowed = publishable(tree, k) if len(frame) else frozenset()

    def figures(code: str, part: pd.DataFrame) -> FlowGroup:
        moves = part["move"].value_counts()
        return FlowGroup(
            group=code, firms=len(part), covered_loans=int(part["covers"].sum()),
            cover_yuan=_enough(part["cover_yuan"], need), claims=int(part["claims"].sum()),
            claim_yuan=_enough(part["claim_yuan"], need),
            policy_grants=int(part["policies"].sum()), policy_firms=int((part["policies"] > 0).sum()),
            up=int(moves.get("up", 0)), same=int(moves.get("same", 0)), down=int(moves.get("down", 0)),
            defaulted=int(part["defaulted"].sum()), grant_yuan=_enough(part["grant_yuan"], need),
            projects={s: int(part[f"project_{s}"].sum()) for s in _PROJECT_STATUSES})

    region = figures("*", frame) if _REGION in allowed else None
    groups = [figures(str(g), part) for g, part in frame.groupby(col) if str(g) in allowed] if region else []
    groups.sort(key=lambda g: (-(g.cover_yuan or 0), -g.firms, g.group))
    return FundFlowsOut(by=by, k=k, min_firms=need, region=region, groups=groups,
                        suppressed=len(sizes) - len(groups), recipients=len(frame) if region else None)


async def chains_report(by: str, k: int) -> ChainsOut:
    """Guarantee circles (互保圈) among the guarantees in force today, by town or industry: the
    circles that touch a group, its firms in them, their sizes, the guaranteed amounts inside
    the circles, the members with an open red or yellow warning, and the guarantee fund's
    expected draw on them (Σ over open covers of members: latest PD × covered amount)."""
    need = min_firms(k)
    day = region_day(None)
    firms = await _firms()
    guarantees = await load_guarantees()
    table = pd.DataFrame(columns=["circle_id", "size", "members", "amount_fen"])
    if len(guarantees):
        net = build_network(guarantees, None, as_of=day, firms=sorted(firms["uscc"]))
        table = find_circles(net).table
    by_uscc = firms.reset_index().set_index("uscc")
    member_rows: list[dict[str, Any]] = []
    for c in table.itertuples(index=False):
        for u in c.members:
            if u in by_uscc.index:
                member_rows.append({"firm": int(by_uscc.at[u, "firm"]), "group": str(by_uscc.at[u, by]),
                                    "circle": int(c.circle_id), "size": int(c.size),
                                    "amount_yuan": int(c.amount_fen) / 100})
    members = pd.DataFrame(member_rows, columns=["firm", "group", "circle", "size", "amount_yuan"])
    warned = {r["firm"] for r in await Warning.select(Warning.firm).where(
        Warning.closed_at.is_null() & Warning.level.is_in(["red", "yellow"]))}
    scores = await _scores()
    pd_now = scores.drop_duplicates("firm", keep="last").set_index("firm")["pd"] if len(scores) else pd.Series()
    closed = closed_covers()
    cover = defaultdict(float)
    for r in await FundLedger.select(FundLedger.application.firm.as_alias("firm"), FundLedger.amount_fen).where(
            (FundLedger.kind == "cover") & FundLedger.application.not_in(closed)):
        cover[r["firm"]] += (r["amount_fen"] or 0) / 100

    def figures(code: str, part: pd.DataFrame) -> ChainGroup:
        circles = part.drop_duplicates("circle")
        firm_ids = set(part["firm"])
        draw = sum(float(pd_now.get(f, 0.0) or 0.0) * cover.get(f, 0.0) for f in firm_ids)
        covered = _enough(pd.Series([cover.get(f, 0.0) for f in firm_ids], dtype=float), need)
        return ChainGroup(
            group=code, firms_in_circles=len(firm_ids), circles=len(circles),
            mean_size=round(float(circles["size"].mean()), 2) if len(circles) else 0.0,
            max_size=int(circles["size"].max()) if len(circles) else 0,
            exposure_yuan=round(float(circles["amount_yuan"].sum()), 2),
            warned_firms=len(firm_ids & warned),
            covered_yuan=covered, expected_draw_yuan=None if covered is None else round(draw, 2))

    in_circles = members.drop_duplicates("firm")
    sizes = in_circles.groupby("group").size() if len(in_circles) else pd.Series(dtype=int)
    tree = [Group("region", _REGION, len(in_circles))] + [
        Group(by, str(g), int(n), _REGION) for g, n in sizes.items()]
    allowed = publishable(tree, k) if len(in_circles) else frozenset()
    region = figures("*", members) if _REGION in allowed else None
    groups = [figures(str(g), part) for g, part in members.groupby("group") if str(g) in allowed] if region else []
    groups.sort(key=lambda g: (-(g.expected_draw_yuan or 0), -g.exposure_yuan, g.group))
    return ChainsOut(by=by, as_of=day, k=k, min_firms=need, region=region, groups=groups,
                     suppressed=len(sizes) - len(groups))
