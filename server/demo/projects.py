"""The demo's supported projects: policy grants being followed, so the owner, the department
and the analysts see the tracking working on the first day.

Firms with insured staff and VAT on record are granted the demo's policies (the demo owner's
firm one of them, under the tax department's policy the demo operator decides), each as an
approved application opening its project through the same service an approval uses
(``server.projects.services.open_project``): started four to eight months ago, twelve months
long, with promises a firm could have made: where its data shows growth since the start, a little
less than its pace gives (on track), elsewhere a quarter more staff (behind); more tax or an
investment besides. Past mid-term milestones have the owner's self-evaluation (one is left
overdue) and every other one the department's assessment; the tracking runs on the region's
data, and the project that has run its course is closed with its result. Runs once (skipped
when any project exists).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from piccolo.engine.base import Engine

from scoring.projects import baseline_month, monthly_measures, planned_share
from server.projects.schemas import CloseIn, OutcomeIn, ProjectTerms
from server.projects.services import close, open_project
from server.projects.tracking import judged_month, track_projects
from server.risk.frames import region_day
from server.scores.frames import load_records
from server.tables.firms import Firm
from server.tables.ingest import DeptRecord
from server.tables.policies import Policy, PolicyApplication
from server.tables.projects import Project, ProjectMilestone, ProjectReport
from server.tables.users import User
from server.users.security import AuthUser

__all__ = ["PROJECTS", "seed_demo_projects"]

PROJECTS = 12  # supported projects in the demo region (the owner's firm's included)
_POLICIES = ("小微企业“六税两费”减免", "稳岗返还", "科技型中小企业贷款贴息")


async def _candidates(latest: date, exclude: set[int]) -> list[tuple[int, float, float]]:
    """(firm, insured headcount, VAT of the last 12 months in yuan) of firms with both on record."""
    heads = {r["uscc"]: r["quantity"] for r in await DeptRecord.select(DeptRecord.uscc, DeptRecord.quantity).where(
        (DeptRecord.source == "social_insurance") & (DeptRecord.category == "pension")
        & (DeptRecord.event_date == latest) & DeptRecord.superseded_at.is_null())}
    start = (pd.Timestamp(latest) - pd.DateOffset(months=12)).date()
    vat: dict[str, float] = {}
    for r in await DeptRecord.select(DeptRecord.uscc, DeptRecord.amount_fen).where(
            (DeptRecord.source == "tax_monthly") & (DeptRecord.category == "vat") & (DeptRecord.event_date > start)
            & DeptRecord.superseded_at.is_null()):
        vat[r["uscc"]] = vat.get(r["uscc"], 0.0) + (r["amount_fen"] or 0) / 100
    firms = await Firm.select(Firm.id, Firm.uscc).where(Firm.status == "active").order_by(Firm.uscc)
    return [(f["id"], float(heads[f["uscc"]]), vat.get(f["uscc"], 0.0)) for f in firms
            if f["id"] not in exclude and (heads.get(f["uscc"]) or 0) >= 5 and vat.get(f["uscc"], 0) > 0]


def _terms(i: int, heads: float, vat: float, measures: pd.DataFrame, share: float) -> list[OutcomeIn]:
    """Promises a firm could have made: where its data shows growth since the start, a little
    less than the growth to come at the pace it shows (on track); elsewhere a quarter more staff
    (behind). Tax where it grew, else an investment the firm reports on."""
    base, now = measures.iloc[0], measures.iloc[-1]
    grew = now["jobs"] - base["jobs"] if pd.notna(now["jobs"]) and pd.notna(base["jobs"]) else 0.0
    jobs = max(1.0, float(int(grew / share * 0.9))) if grew >= 1 and share > 0 else float(max(2, round(heads * 0.25)))
    out = [OutcomeIn("jobs", jobs)]
    tax_grew = now["tax"] - base["tax"] if pd.notna(now["tax"]) and pd.notna(base["tax"]) else 0.0
    if tax_grew > 0 and i % 2 == 0:
        out.append(OutcomeIn("tax", float(max(100.0, round(tax_grew / share * 0.9, -2)))))
    elif i % 2 == 0:
        out.append(OutcomeIn("tax", float(round(vat * 0.15, -2) or 1000)))
    else:
        out.append(OutcomeIn("investment", float(200_000 + 50_000 * (i % 7))))
    return out


async def seed_demo_projects(engine: Engine, owner_firm: int) -> int:
    """Open the demo's projects, report on and close some, and track them (see the module);
    returns the projects opened."""
    if await Project.exists():
        return 0
    policies = {r["title"]: r for r in await Policy.select(Policy.id, Policy.title, Policy.department).where(
        Policy.title.is_in(list(_POLICIES)))}
    if len(policies) < len(_POLICIES):
        return 0
    newest = await DeptRecord.select(DeptRecord.event_date).where(DeptRecord.source == "social_insurance").order_by(
        DeptRecord.event_date, ascending=False).first()
    if newest is None:
        return 0
    taken = {r["firm"] for r in await User.select(User.firm).where(User.firm.is_not_null())} - {owner_firm}
    pool = await _candidates(newest["event_date"], taken)
    mine = [c for c in pool if c[0] == owner_firm]
    others = [c for c in pool if c[0] != owner_firm]
    chosen = mine + others[:: max(1, len(others) // PROJECTS)][: PROJECTS - len(mine)]
    usccs = {r["id"]: r["uscc"] for r in await Firm.select(Firm.id, Firm.uscc).where(
        Firm.id.is_in([c[0] for c in chosen]))} if chosen else {}
    records = await load_records(engine, newest["event_date"], usccs=sorted(usccs.values()))
    today = region_day(None)
    now = datetime.now(UTC)
    opened: list[tuple[int, date]] = []
    for i, (firm, heads, vat) in enumerate(chosen):
        last = i == len(chosen) - 1  # the last one has run its course (closed by the tax department)
        title = _POLICIES[0] if firm == owner_firm or last or i % 3 == 0 else _POLICIES[i % 3]
        policy = policies[title]
        back = 12 if last else 4 + i % 5
        starts_on = (pd.Timestamp(today.replace(day=1)) - pd.DateOffset(months=back)).date()
        ends_on = (pd.Timestamp(starts_on) + pd.DateOffset(months=12) - pd.Timedelta(days=1)).date()
        month = judged_month(records, usccs[firm], today, ends_on)
        measures = monthly_measures(records, usccs[firm], [baseline_month(starts_on), month])
        outcomes = _terms(i, heads, vat, measures, planned_share(starts_on, ends_on, month))
        decided = now - timedelta(days=30 * back)
        application = PolicyApplication(policy=policy["id"], firm=firm, status="approved", reason="",
                                        created_at=decided - timedelta(days=10), decided_at=decided, decided_by=None)
        await application.save()
        row = {"id": application.id, "policy.id": policy["id"], "firm.id": firm,
               "policy.department.id": policy["department"], "policy.title": policy["title"]}
        pid = await open_project(row, ProjectTerms(granted_yuan=100_000 * (1 + i % 5), starts_on=starts_on,
                                                   months=12, outcomes=outcomes))
        opened.append((pid, starts_on))
    for n, (pid, _) in enumerate(opened):  # mid-term reports, one left overdue
        due = await ProjectMilestone.select(ProjectMilestone.due_on).where(
            (ProjectMilestone.project == pid) & (ProjectMilestone.seq == 1)).first()
        if due is None or due["due_on"] >= today or n == 2:
            continue
        invested = {"investment_yuan": 150_000 + 20_000 * n}
        await ProjectReport(project=pid, kind="self", milestone=1, author=0, author_role="owner", score=85,
                            text="设备已安装投产，新招员工正在培训", figures=invested, created_at=now).save()
        if n % 2:
            await ProjectReport(project=pid, kind="assessment", milestone=1, author=0, author_role="dept_operator",
                                assessor="区财政局绩效评价中心", score=78, text="投资已到位，用工增长与计划基本一致",
                                figures=invested, created_at=now).save()
    await track_projects(engine)
    if opened:  # the project that has run its course is closed with its result
        pid = opened[-1][0]
        project = await Project.select(Project.department, Project.department.code).where(Project.id == pid).first()
        operator = await User.select(User.id, User.phone).where(
            (User.role == "dept_operator") & (User.department == project["department"])).first()
        if operator is not None:
            who = AuthUser(id=operator["id"], phone=operator["phone"], role="dept_operator", display_name="",
                           firm_id=None, firm_uscc=None, bank_id=None, department_id=project["department"],
                           department_code=project["department.code"])
            await close(engine, who, pid, CloseIn(text="项目按期完成，绩效目标基本实现"))
    return len(opened)
