"""The monthly tracking of supported projects: the model of ``scoring.projects`` run on what the
departments have sent, its finding stored and pushed.

:func:`track_projects` runs for the firms of an ingested batch (a step of the after-ingest
process) and daily for every open project (``server.jobs``). For each open project it

1. picks the month to judge: the latest month of the firm's monthly records, but never more
   than two months behind the last full month (a firm whose data stopped is judged on nothing,
   which counts as not achieved), never past the project's end;
2. fills the baselines the data now shows (the month before the start), reads the month's
   measures, the reported figures, the milestones passed without a self-evaluation and the
   firm's troubles (an open red warning, grade D, not active), and runs ``track``;
3. stores the finding in ``project_check`` (one row per project and month, an upsert) and the
   project's status;
4. pushes the deviations to the firm's owners and the department's operators (one notification
   per project and month, updated when the finding changes), and reminds owners of a milestone
   due within 14 days (once per milestone).

Running it again on the same data writes the same rows and notifies no one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pandas as pd
from piccolo.engine.base import Engine

from scoring.projects import (
    METRICS,
    Promise,
    Tracking,
    baseline_month,
    month_end,
    monthly_measures,
    track,
)
from server import db
from server.notifications.fanout import notify_users
from server.notifications.owners import owner_ids
from server.risk.frames import region_day
from server.scores.frames import load_records
from server.tables.projects import Project, ProjectCheck, ProjectMilestone, ProjectReport
from server.tables.risk import Warning
from server.tables.scores import ScoreHistory
from server.tables.users import User

__all__ = ["REMIND_DAYS", "TrackResult", "department_operators", "evaluate", "judged_month", "promises_of",
           "reported_figures", "track_projects"]

log = logging.getLogger("xinbao.projects")

#: Owners are reminded of a milestone this many days before it is due.
REMIND_DAYS = 14
#: Data may lag the last full month by this many months before the month is judged without it.
LAG_MONTHS = 2
_CHUNK = 500
_MONTHLY_KINDS = ("tax_monthly", "social_insurance")


@dataclass(slots=True)
class TrackResult:
    projects: int = 0
    checks: int = 0
    notified: int = 0
    reminded: int = 0


def _last_month_end(today: date) -> date:
    return today.replace(day=1) - timedelta(days=1)


def judged_month(records: pd.DataFrame, uscc: str, today: date, ends_on: date) -> date:
    """The month a project of this firm is judged in (see the module's step 1)."""
    last = _last_month_end(today)
    floor = month_end(pd.Timestamp(last) - pd.DateOffset(months=LAG_MONTHS))
    mine = records[(records["uscc"] == uscc) & records["kind"].isin(_MONTHLY_KINDS)]
    dates = pd.to_datetime(mine["event_date"])
    latest = month_end(dates.max()) if len(dates) and pd.notna(dates.max()) else floor
    return min(max(latest, floor), last, month_end(ends_on))


def promises_of(outcomes: Any) -> list[Promise]:
    raw = msgspec.json.decode(outcomes) if isinstance(outcomes, str | bytes) else (outcomes or [])
    return [Promise(metric=o["metric"], change=float(o["change"]),
                    baseline=None if o.get("baseline") is None else float(o["baseline"])) for o in raw]


def _outcomes_json(promises: Sequence[Promise]) -> list[dict[str, Any]]:
    return [{"metric": p.metric, "change": p.change, "baseline": p.baseline} for p in promises]


async def reported_figures(project_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """Per project, the latest reported figure of each reported metric: an assessment's
    (verified) over the firm's own, a later report over an earlier one."""
    if not project_ids:
        return {}
    rows = await (ProjectReport.select(ProjectReport.project, ProjectReport.kind, ProjectReport.figures)
                  .where(ProjectReport.project.is_in(list(project_ids)) & ProjectReport.kind.is_in(["self", "assessment"]))
                  .order_by(ProjectReport.created_at).order_by(ProjectReport.id).output(load_json=True))
    out: dict[int, dict[str, float]] = {}
    for kind in ("self", "assessment"):  # assessments applied last: they win
        for r in rows:
            if r["kind"] != kind:
                continue
            for metric, spec in METRICS.items():
                value = (r["figures"] or {}).get(f"{metric}_yuan")
                if spec.source == "reported" and value is not None:
                    out.setdefault(r["project"], {})[metric] = float(value)
    return out


async def department_operators(department_id: int) -> list[int]:
    rows = await User.select(User.id).where(
        (User.role == "dept_operator") & (User.department == department_id) & (User.is_active == True))  # noqa: E712
    return [r["id"] for r in rows]


async def _troubles(firm_ids: list[int]) -> dict[int, list[tuple[str, str, str]]]:
    """Per firm, what says it is in trouble: open red warnings, a latest grade of D, a status
    other than active."""
    out: dict[int, list[tuple[str, str, str]]] = {}
    reds = await (Warning.select(Warning.firm, Warning.rule_code, Warning.message_zh, Warning.message_en)
                  .where(Warning.firm.is_in(firm_ids) & (Warning.level == "red") & Warning.closed_at.is_null())
                  .order_by(Warning.opened_at))
    for r in reds:
        out.setdefault(r["firm"], []).append(
            (r["rule_code"], f"企业出现红色预警：{r['message_zh'] or r['rule_code']}",
             f"The firm has a red warning: {r['message_en'] or r['rule_code']}"))
    grades = await (ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade)
                    .where(ScoreHistory.firm.is_in(firm_ids))
                    .order_by(ScoreHistory.as_of).order_by(ScoreHistory.id))
    latest = {r["firm"]: r["grade"] for r in grades}
    for firm, grade in latest.items():
        if grade == "D":
            out.setdefault(firm, []).append(("grade_d", "企业信用等级降为D级", "The firm's credit grade is D"))
    return out


async def _open_projects(firm_ids: Sequence[int] | None) -> list[dict[str, Any]]:
    query = Project.select(
        Project.id, Project.firm, Project.firm.uscc, Project.firm.status, Project.department, Project.title,
        Project.starts_on, Project.ends_on, Project.outcomes, Project.status, Project.tracking,
    ).where(Project.closed_at.is_null())
    if firm_ids is not None:
        if not firm_ids:
            return []
        query = query.where(Project.firm.is_in(list(firm_ids)))
    return await query.order_by(Project.id).output(load_json=True)


async def _milestones(project_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = await (ProjectMilestone.select().where(ProjectMilestone.project.is_in(project_ids))
                  .order_by(ProjectMilestone.seq))
    done = {(r["project"], r["milestone"]) for r in await ProjectReport.select(
        ProjectReport.project, ProjectReport.milestone).where(
        ProjectReport.project.is_in(project_ids) & (ProjectReport.kind == "self"))}
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["project"], []).append({**r, "reported": (r["project"], r["seq"]) in done})
    return out


async def _store(project: dict[str, Any], promises: list[Promise], finding: Tracking, now: datetime, *,
                 check: bool) -> None:
    """The project's latest finding and, once it has started (``check``), the month's row."""
    data = finding.as_dict()
    async with db.write_transaction():
        if check:
            await ProjectCheck.insert(ProjectCheck(
                project=project["id"], month=finding.month, status=finding.status, finding=data, created_at=now,
            )).on_conflict(target=(ProjectCheck.project, ProjectCheck.month), action="DO UPDATE",
                           values=[ProjectCheck.status, ProjectCheck.finding, ProjectCheck.created_at])
        await Project.update({
            Project.status: finding.status, Project.tracking: data, Project.tracked_month: finding.month,
            Project.outcomes: _outcomes_json(promises),
        }).where((Project.id == project["id"]) & Project.closed_at.is_null())


async def _push(project: dict[str, Any], finding: Tracking) -> int:
    if not finding.deviations:
        return 0
    users = [*await owner_ids(project["firm"]), *await department_operators(project["department"])]
    first = finding.deviations[0]
    n = len(finding.deviations)
    month = finding.month
    more_zh = f"等{n}项" if n > 1 else ""
    more_en = f" (+{n - 1} more)" if n > 1 else ""
    body = {"project_id": project["id"], "title": project["title"], "uscc": project["firm.uscc"],
            "month": month.isoformat(), "status": finding.status,
            "deviations": [{"kind": d.kind, "metric": d.metric, "text_zh": d.text_zh, "text_en": d.text_en}
                           for d in finding.deviations]}
    return await notify_users(
        users, kind="project", level="red" if finding.status == "failed" else "yellow",
        title_zh=f"项目跟踪偏差：「{project['title']}」{month.year}年{month.month}月{more_zh}：{first.text_zh}",
        title_en=f"Project deviation: \"{project['title']}\", {month:%B %Y}: {first.text_en}{more_en}",
        body=body, dedup_key=f"project:{project['id']}:{month.isoformat()}", firm_id=project["firm"])


async def _remind(project: dict[str, Any], milestones: list[dict[str, Any]], today: date, now: datetime) -> int:
    sent = 0
    for m in milestones:
        if m["reported"] or m["reminded_at"] is not None or not today <= m["due_on"] <= today + timedelta(days=REMIND_DAYS):
            continue
        users = await owner_ids(project["firm"])
        async with db.write_transaction():
            claimed = await ProjectMilestone.update({ProjectMilestone.reminded_at: now}).where(
                (ProjectMilestone.id == m["id"]) & ProjectMilestone.reminded_at.is_null()).returning(ProjectMilestone.id)
            if claimed and users:
                sent += await notify_users(
                    users, kind="project", level="blue",
                    title_zh=f"项目节点提醒：「{project['title']}」的「{m['title']}」将于{m['due_on'].isoformat()}到期，请提交自评报告",
                    title_en=f"Milestone reminder: \"{m['title']}\" of \"{project['title']}\" is due on "
                             f"{m['due_on'].isoformat()}; please submit the self-evaluation",
                    body={"project_id": project["id"], "milestone": m["seq"], "due_on": m["due_on"].isoformat()},
                    dedup_key=f"project:{project['id']}:milestone:{m['seq']}:reminder", firm_id=project["firm"])
    return sent


async def evaluate(engine: Engine, projects: list[dict[str, Any]], today: date,
                   milestones: dict[int, list[dict[str, Any]]] | None = None,
                   ) -> dict[int, tuple[list[Promise], Tracking, bool]]:
    """The tracking finding of each project today, with its promises' baselines filled from the
    data where it now shows them, and whether it has started (before its first month it is
    judged at the baseline: nothing planned, no deviation). ``milestones``: the projects'
    milestones when the caller has read them (else read here)."""
    out: dict[int, tuple[list[Promise], Tracking, bool]] = {}
    if not projects:
        return out
    ids = [p["id"] for p in projects]
    reported = await reported_figures(ids)
    if milestones is None:
        milestones = await _milestones(ids)
    troubles = await _troubles(sorted({p["firm"] for p in projects}))
    last = _last_month_end(today)
    for i in range(0, len(projects), _CHUNK):
        chunk = projects[i:i + _CHUNK]
        records = await load_records(engine, last, usccs=sorted({p["firm.uscc"] for p in chunk}))
        for p in chunk:
            uscc = p["firm.uscc"]
            promises = promises_of(p["outcomes"])
            base = baseline_month(p["starts_on"])
            month = judged_month(records, uscc, today, p["ends_on"])
            measures = monthly_measures(records, uscc, [base, month])
            row = measures.iloc[0]
            promises = [q if q.baseline is not None or METRICS[q.metric].source == "reported"
                        or pd.isna(row.get(q.metric)) else Promise(q.metric, q.change, float(row[q.metric]))
                        for q in promises]
            started = month >= month_end(p["starts_on"])
            if not started:  # judged at the baseline: nothing planned yet, nothing to push
                month = base
            overdue = [(m["title"], m["due_on"]) for m in milestones.get(p["id"], [])
                       if not m["reported"] and m["due_on"] < today]
            finding = track(promises, p["starts_on"], p["ends_on"], month, measures,
                            reported=reported.get(p["id"], {}), overdue=overdue,
                            trouble=troubles.get(p["firm"], []) + (
                                [("suspended", "企业处于停业状态", "The firm is suspended")]
                                if p["firm.status"] == "suspended" else []),
                            firm_closed=p["firm.status"] in ("revoked", "cancelled"))
            if not started:
                finding.deviations, finding.status = [], "on_track"
            out[p["id"]] = (promises, finding, started)
    return out


async def track_projects(engine: Engine, firm_ids: Sequence[int] | None = None,
                         today: date | None = None) -> TrackResult:
    """Track the open projects of these firms (all open projects if None); see the module."""
    today = today or region_day(None)
    now = datetime.now(UTC)
    projects = await _open_projects(firm_ids)
    result = TrackResult(projects=len(projects))
    milestones = await _milestones([p["id"] for p in projects]) if projects else {}
    found = await evaluate(engine, projects, today, milestones)
    for p in projects:
        promises, finding, started = found[p["id"]]
        await _store(p, promises, finding, now, check=started)
        if started:
            result.checks += 1
            result.notified += await _push(p, finding)
        result.reminded += await _remind(p, milestones.get(p["id"], []), today, now)
    if projects:
        log.info("tracked %d project(s): %d finding(s), %d notification(s), %d reminder(s)",
                 result.projects, result.checks, result.notified, result.reminded)
    return result

