"""Supported projects: opened by a granted policy application, reported on by the owner at
milestones, assessed by the department or a third party, closed with a result score.

Who sees what: the firm's owners their firm's projects; a department's operators the projects
of their department's policies (every project shown with its figures is logged in the firm's
access log, as a bank's view is); admins every project; analysts only the summary, per
department, withheld for a department whose projects belong to fewer than ``k`` firms.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from piccolo.engine.base import Engine

from scoring.projects import METRICS, result_score
from server import db
from server.notifications.fanout import notify_users
from server.notifications.owners import owner_ids
from server.privacy import min_firms
from server.projects.schemas import (
    AssessmentIn,
    CloseIn,
    DeviationOut,
    MilestoneOut,
    OutcomeOut,
    OutcomeTotal,
    PortfolioOut,
    ProjectOut,
    ProjectSummaryOut,
    ProjectTerms,
    ReportOut,
    SelfEvaluationIn,
    SummaryDepartment,
    TrackingOut,
)
from server.projects.tracking import department_operators, evaluate, promises_of, track_projects
from server.risk.frames import region_day
from server.tables.consent import AccessLog
from server.tables.ingest import Department
from server.tables.projects import Project, ProjectCheck, ProjectMilestone, ProjectReport
from server.texts import t
from server.users.security import AuthUser

__all__ = ["assess", "close", "get_project", "list_projects", "open_project", "portfolio", "self_evaluate",
           "summary"]

STATUSES = ("on_track", "behind", "failed", "completed")
#: How far back (a grant recorded late) or ahead a project's start may be set, in months.
_START_BACK_MONTHS, _START_AHEAD_MONTHS = 24, 12


# --- opening -------------------------------------------------------------------------------------

def _months_later(day: date, months: int) -> date:
    return (pd.Timestamp(day) + pd.DateOffset(months=months)).date()


def _check_terms(terms: ProjectTerms, today: date) -> tuple[date, date, list[tuple[str, date]]]:
    starts_on = terms.starts_on or today.replace(day=1)
    earliest, latest = _months_later(today, -_START_BACK_MONTHS), _months_later(today, _START_AHEAD_MONTHS)
    if not earliest <= starts_on <= latest:
        raise ValidationException(t("project.starts_on: must lie between {earliest:date} and {latest:date}",
                                    earliest=earliest, latest=latest))
    ends_on = _months_later(starts_on, terms.months) - pd.Timedelta(days=1)
    metrics = [o.metric for o in terms.outcomes]
    repeated = sorted({m for m in metrics if metrics.count(m) > 1})
    if repeated:
        raise ValidationException(t("project.outcomes: each outcome once ({metric} is given twice)",
                                    metric=repeated[0]))
    milestones = sorted((m.title.strip(), m.due_on) for m in terms.milestones)
    for title, due in milestones:
        if not starts_on <= due <= ends_on:
            raise ValidationException(t(
                "project.milestones: {title} is due on {due:date}, outside the project ({start:date} to {end:date})",
                title=title, due=due, start=starts_on, end=ends_on))
        if not title:
            raise ValidationException(t("project.milestones: a milestone needs a title"))
    if not milestones:
        mid = _months_later(starts_on, max(1, terms.months // 2)) - pd.Timedelta(days=1)
        milestones = ([("中期评估", mid)] if mid < ends_on else []) + [("结项验收", ends_on)]
    milestones.sort(key=lambda m: m[1])
    return starts_on, ends_on, milestones


async def open_project(application: dict[str, Any], terms: ProjectTerms | None) -> int:
    """The project of an approved application (call inside the decision's transaction):
    its terms checked, its milestones in date order. Returns the project's id."""
    terms = terms or ProjectTerms()
    today = region_day(None)
    starts_on, ends_on, milestones = _check_terms(terms, today)
    project = Project(
        application=application["id"], policy=application["policy.id"], firm=application["firm.id"],
        department=application["policy.department.id"], title=application["policy.title"],
        granted_fen=terms.granted_yuan * 100, starts_on=starts_on, ends_on=ends_on,
        outcomes=[{"metric": o.metric, "change": o.change, "baseline": None} for o in terms.outcomes],
        status="on_track", created_at=datetime.now(UTC))
    await project.save()
    if milestones:
        await ProjectMilestone.insert(*[
            ProjectMilestone(project=project.id, seq=i, title=title, due_on=due)
            for i, (title, due) in enumerate(milestones, start=1)]).run()
    return project.id


# --- reading ------------------------------------------------------------------------------------

_COLUMNS = (
    Project.id, Project.application, Project.policy, Project.title, Project.department,
    Project.department.code, Project.department.name_zh, Project.department.name_en, Project.firm,
    Project.firm.uscc, Project.firm.name, Project.firm.status, Project.granted_fen, Project.starts_on,
    Project.ends_on, Project.outcomes, Project.status, Project.tracking, Project.created_at,
    Project.closed_at, Project.score,
)


def _report_out(r: dict[str, Any]) -> ReportOut:
    return ReportOut(kind=r["kind"], milestone=r["milestone"], author_role=r["author_role"],
                     assessor=r["assessor"], score=r["score"], text=r["text"], figures=r["figures"] or {},
                     created_at=r["created_at"])


def _tracking_out(data: dict[str, Any] | None) -> TrackingOut | None:
    if not data:
        return None
    return TrackingOut(month=date.fromisoformat(data["month"]), planned=data["planned"], status=data["status"],
                       deviations=[DeviationOut(kind=d["kind"], metric=d["metric"], text_zh=d["text_zh"],
                                                text_en=d["text_en"], figures=d.get("figures") or {})
                                   for d in data.get("deviations", [])])


def _outcomes_out(row: dict[str, Any]) -> list[OutcomeOut]:
    progress = {o["metric"]: o for o in ((row["tracking"] or {}).get("outcomes") or [])}
    if row.get("result"):
        progress = {o["metric"]: o for o in row["result"].figures.get("outcomes", [])} or progress
    out = []
    for p in promises_of(row["outcomes"]):
        spec, seen = METRICS[p.metric], progress.get(p.metric, {})
        out.append(OutcomeOut(metric=p.metric, name_zh=spec.name_zh, name_en=spec.name_en, unit_zh=spec.unit_zh,
                              unit_en=spec.unit_en, source=spec.source, change=p.change, baseline=p.baseline,
                              target=p.target, actual=seen.get("actual"), achieved=seen.get("achieved"),
                              planned=seen.get("planned"), status=seen.get("status")))
    return out


async def _assemble(rows: list[dict[str, Any]], *, history: bool = False) -> list[ProjectOut]:
    ids = [r["id"] for r in rows]
    if not ids:
        return []
    milestones = await (ProjectMilestone.select().where(ProjectMilestone.project.is_in(ids))
                        .order_by(ProjectMilestone.seq))
    reports = await (ProjectReport.select().where(ProjectReport.project.is_in(ids))
                     .order_by(ProjectReport.id).output(load_json=True))
    by_key = {(r["project"], r["kind"], r["milestone"]): _report_out(r) for r in reports}
    checks: dict[int, list[TrackingOut]] = {}
    if history:
        for c in await (ProjectCheck.select(ProjectCheck.project, ProjectCheck.finding)
                        .where(ProjectCheck.project.is_in(ids)).order_by(ProjectCheck.month).output(load_json=True)):
            found = _tracking_out(c["finding"])
            if found is not None:
                checks.setdefault(c["project"], []).append(found)
    out = []
    for r in rows:
        result = by_key.get((r["id"], "result", 0))
        out.append(ProjectOut(
            id=r["id"], application_id=r["application"], policy_id=r["policy"], title=r["title"],
            department_code=r["department.code"], department_name_zh=r["department.name_zh"],
            department_name_en=r["department.name_en"], firm_uscc=r["firm.uscc"], firm_name=r["firm.name"],
            granted_yuan=(r["granted_fen"] or 0) // 100, starts_on=r["starts_on"], ends_on=r["ends_on"],
            status=r["status"], outcomes=_outcomes_out({**r, "result": result}),
            milestones=[MilestoneOut(seq=m["seq"], title=m["title"], due_on=m["due_on"],
                                     self_evaluation=by_key.get((r["id"], "self", m["seq"])),
                                     assessment=by_key.get((r["id"], "assessment", m["seq"])))
                        for m in milestones if m["project"] == r["id"]],
            tracking=_tracking_out(r["tracking"]), created_at=r["created_at"], closed_at=r["closed_at"],
            score=r["score"], result=result, history=checks.get(r["id"], [])))
    return out


def _where(user: AuthUser) -> Any:
    if user.role == "owner":
        return Project.firm == user.linked_firm()
    if user.role == "dept_operator":
        return Project.department == user.linked_department()
    return Project.id > 0  # admin: every project


async def _log_views(user: AuthUser, firm_ids: set[int]) -> None:
    """A department's view of its projects shows the firms' department figures: logged for
    the firms to see, as a bank's view is (the owner's own view is not)."""
    if user.role == "owner" or not firm_ids:
        return
    now = datetime.now(UTC)
    await AccessLog.insert(*[AccessLog(firm=f, viewer=user.id, viewer_role=user.role, bank=None, what="project", at=now)
                             for f in sorted(firm_ids)]).run()


async def list_projects(user: AuthUser, status: str | None = None) -> list[ProjectOut]:
    """The reader's projects, newest first (owner: the firm's; operator: the department's)."""
    where = _where(user)
    if status is not None:
        where = where & (Project.status == status)
    rows = await (Project.select(*_COLUMNS).where(where).order_by(Project.id, ascending=False)
                  .limit(1000).output(load_json=True))
    await _log_views(user, {r["firm"] for r in rows})
    return await _assemble(rows)


async def _row(user: AuthUser, project_id: int) -> dict[str, Any]:
    row = await Project.select(*_COLUMNS).where(Project.id == project_id).output(load_json=True).first()
    if row is None:
        raise NotFoundException(t("no project {id}", id=project_id))
    allowed = (user.role == "admin"
               or (user.role == "owner" and row["firm"] == user.firm_id)
               or (user.role == "dept_operator" and row["department"] == user.department_id))
    if not allowed:
        raise PermissionDeniedException(t("project {id} is not yours to see", id=project_id))
    return row


async def get_project(user: AuthUser, project_id: int) -> ProjectOut:
    """One project with its milestones, reports and every month's finding."""
    row = await _row(user, project_id)
    await _log_views(user, {row["firm"]})
    return (await _assemble([row], history=True))[0]


# --- reports ------------------------------------------------------------------------------------

async def _milestone(row: dict[str, Any], seq: int) -> dict[str, Any]:
    found = await ProjectMilestone.select().where(
        (ProjectMilestone.project == row["id"]) & (ProjectMilestone.seq == seq)).first()
    if found is None:
        raise ValidationException(t("milestone: project {id} has no milestone {seq}", id=row["id"], seq=seq))
    return found


def _still_open(row: dict[str, Any]) -> None:
    if row["closed_at"] is not None:
        raise ClientException(t("project {id} is closed", id=row["id"]), status_code=409)


async def _save_report(row: dict[str, Any], report: ProjectReport) -> None:
    """Insert the report; a second one of its kind for the milestone is a 409 (unique index)."""
    clash = await ProjectReport.exists().where(
        (ProjectReport.project == row["id"]) & (ProjectReport.kind == report.kind)
        & (ProjectReport.milestone == report.milestone))
    if not clash:
        try:
            async with db.write_transaction():
                await report.save()
            return
        except Exception as exc:  # the unique index: a concurrent report came first
            if "unique" not in str(exc).lower() and "duplicate" not in str(exc).lower():
                raise
    raise ClientException(t("milestone: a report of this kind for milestone {seq} exists already",
                            seq=report.milestone), status_code=409)


async def self_evaluate(engine: Engine, user: AuthUser, project_id: int, data: SelfEvaluationIn) -> ProjectOut:
    """The owner's self-evaluation of a milestone; the project is tracked again at once (a
    report can clear an overdue milestone), and the department's operators are told."""
    row = await _row(user, project_id)
    _still_open(row)
    milestone = await _milestone(row, data.milestone)
    figures = {} if data.investment_yuan is None else {"investment_yuan": data.investment_yuan}
    await _save_report(row, ProjectReport(
        project=row["id"], kind="self", milestone=data.milestone, author=user.id, author_role=user.role,
        assessor="", score=data.score, text=data.text.strip(), figures=figures, created_at=datetime.now(UTC)))
    await track_projects(engine, [row["firm"]])
    await notify_users(
        await department_operators(row["department"]), kind="project", level="blue",
        title_zh=f"项目自评已提交：「{row['title']}」{row['firm.name']}，节点「{milestone['title']}」，自评{data.score}分",
        title_en=f"Self-evaluation submitted: \"{row['title']}\", {row['firm.name']}, milestone "
                 f"\"{milestone['title']}\", self-score {data.score}",
        body={"project_id": row["id"], "milestone": data.milestone, "score": data.score},
        dedup_key=f"project:{row['id']}:self:{data.milestone}", firm_id=row["firm"])
    return await get_project(user, project_id)


async def assess(engine: Engine, user: AuthUser, project_id: int, data: AssessmentIn) -> ProjectOut:
    """The department's (or its third party's) assessment of a milestone; the owners are told."""
    row = await _row(user, project_id)
    _still_open(row)
    milestone = await _milestone(row, data.milestone)
    assessor = data.assessor.strip() or row["department.name_zh"]
    figures = {} if data.investment_yuan is None else {"investment_yuan": data.investment_yuan}
    await _save_report(row, ProjectReport(
        project=row["id"], kind="assessment", milestone=data.milestone, author=user.id, author_role=user.role,
        assessor=assessor, score=data.score, text=data.text.strip(), figures=figures, created_at=datetime.now(UTC)))
    await track_projects(engine, [row["firm"]])
    await notify_users(
        await owner_ids(row["firm"]), kind="project", level="blue",
        title_zh=f"项目评估结果：「{row['title']}」节点「{milestone['title']}」，{assessor}评估{data.score}分",
        title_en=f"Project assessed: \"{row['title']}\", milestone \"{milestone['title']}\", "
                 f"{data.score} points by {assessor}",
        body={"project_id": row["id"], "milestone": data.milestone, "score": data.score, "assessor": assessor},
        dedup_key=f"project:{row['id']}:assessment:{data.milestone}", firm_id=row["firm"])
    return await get_project(user, project_id)


async def close(engine: Engine, user: AuthUser, project_id: int, data: CloseIn) -> ProjectOut:
    """The result evaluation: every promise judged on the data of the last month (unknown
    counts as not achieved) with the latest assessment's score; the project ends completed
    (score >= 60) or failed, and its owners are told."""
    row = await _row(user, project_id)
    _still_open(row)
    promises, finding, _ = (await evaluate(engine, [row], region_day(None)))[row["id"]]
    assessments = await (ProjectReport.select(ProjectReport.score).where(
        (ProjectReport.project == row["id"]) & (ProjectReport.kind == "assessment"))
        .order_by(ProjectReport.milestone).order_by(ProjectReport.id))
    assessment = assessments[-1]["score"] if assessments else None
    result = result_score(finding.outcomes, assessment)
    status = "completed" if result.passed else "failed"
    now = datetime.now(UTC)
    async with db.write_transaction():
        changed = await Project.update({
            Project.closed_at: now, Project.score: result.score, Project.status: status,
            Project.tracking: finding.as_dict(), Project.tracked_month: finding.month,
            Project.outcomes: [{"metric": p.metric, "change": p.change, "baseline": p.baseline} for p in promises],
        }).where((Project.id == row["id"]) & Project.closed_at.is_null()).returning(Project.id)
        if not changed:
            raise ClientException(t("project {id} is closed", id=row["id"]), status_code=409)
        await ProjectReport(project=row["id"], kind="result", milestone=0, author=user.id, author_role=user.role,
                            assessor=row["department.name_zh"], score=result.score, text=data.text.strip(),
                            figures={**result.as_dict(), "month": finding.month.isoformat()},
                            created_at=now).save()
        rating_zh = {"excellent": "优秀", "good": "良好", "pass": "合格", "fail": "不合格"}[result.rating]
        await notify_users(
            await owner_ids(row["firm"]), kind="project", level="blue" if result.passed else "yellow",
            title_zh=f"项目已结项：「{row['title']}」结果评价{result.score}分（{rating_zh}）",
            title_en=f"Project closed: \"{row['title']}\" scored {result.score} ({result.rating})",
            body={"project_id": row["id"], "score": result.score, "rating": result.rating, "status": status},
            dedup_key=f"project:{row['id']}:closed", firm_id=row["firm"])
    return await get_project(user, project_id)


# --- portfolio and summary ----------------------------------------------------------------------

def _totals(items: list[ProjectOut]) -> list[OutcomeTotal]:
    promised: Counter[str] = Counter()
    achieved: Counter[str] = Counter()
    for p in items:
        for o in p.outcomes:
            promised[o.metric] += o.change
            start = 0.0 if o.source == "reported" else o.baseline
            if o.actual is not None and start is not None:
                achieved[o.metric] += max(0.0, min(o.change, o.actual - start))
    return [OutcomeTotal(metric=m, name_zh=METRICS[m].name_zh, name_en=METRICS[m].name_en,
                         unit_zh=METRICS[m].unit_zh, unit_en=METRICS[m].unit_en,
                         promised=round(promised[m], 2), achieved=round(achieved[m], 2))
            for m in METRICS if m in promised]


def _by_status(items: list[ProjectOut]) -> dict[str, int]:
    counts = Counter(p.status for p in items)
    return {s: counts.get(s, 0) for s in STATUSES}


async def portfolio(user: AuthUser) -> PortfolioOut:
    """The operator's department's projects: by status, money granted, outcomes achieved."""
    department = user.linked_department()
    items = await list_projects(user)
    code = await Department.select(Department.code).where(Department.id == department).first()
    return PortfolioOut(department_code=code["code"] if code else "", projects=len(items),
                        by_status=_by_status(items), granted_yuan=sum(p.granted_yuan for p in items),
                        outcomes=_totals(items), items=items)


async def summary(k: int) -> ProjectSummaryOut:
    """Per department: projects by status, money granted, outcomes promised and achieved,
    withheld where the projects belong to fewer than ``k`` firms (a reader who is not a firm)."""
    rows = await (Project.select(*_COLUMNS).order_by(Project.id).output(load_json=True))
    items = await _assemble(rows)
    need = min_firms(k, viewer_in_group=False)
    departments = []
    for code in sorted({p.department_code for p in items}):
        mine = [p for p in items if p.department_code == code]
        firms = len({p.firm_uscc for p in mine})
        shown = firms >= need
        departments.append(SummaryDepartment(
            department_code=code, department_name_zh=mine[0].department_name_zh,
            department_name_en=mine[0].department_name_en, firms=firms,
            projects=len(mine) if shown else None, by_status=_by_status(mine) if shown else None,
            granted_yuan=sum(p.granted_yuan for p in mine) if shown else None,
            outcomes=_totals(mine) if shown else None))
    return ProjectSummaryOut(k=k, departments=departments)

