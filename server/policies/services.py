"""The policy supermarket: departments publish, firms see what they qualify for and apply,
the owning department decides.

A firm's eligibility is evaluated on demand from its registry fields, its latest grade and,
when a policy names indicators or headcount, that one firm's indicators computed by
``scoring.features`` from its own records (never a region-wide recomputation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pandas as pd
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from scoring.features import compute_features
from scoring.grades import GRADES
from scoring.indicators import INDICATORS
from scoring.records import FIRM_COLUMNS, INDUSTRY_SECTIONS
from server import db
from server.policies.eligibility import SIZE_NAMES, FirmFacts, evaluate, needs_features, problems
from server.policies.schemas import (
    CatalogueEntry,
    CatalogueIndicator,
    CriteriaCatalogue,
    Eligibility,
    EvaluationSummary,
    PolicyApplicationOut,
    PolicyCreate,
    PolicyDecision,
    PolicyMatch,
    PolicyMatches,
    PolicyOut,
    PolicyUpdate,
)
from server.projects.services import open_project
from server.scores.frames import load_records
from server.tables.consent import AccessLog
from server.tables.firms import Firm
from server.tables.policies import Policy, PolicyApplication
from server.tables.projects import Project
from server.tables.scores import ScoreHistory
from server.texts import Text, Written, t
from server.users.security import AuthUser

__all__ = [
    "apply",
    "criteria_catalogue",
    "decide",
    "firm_facts",
    "get_policy",
    "list_applications",
    "list_policies",
    "matches",
    "publish",
    "today",
    "update",
]

# A policy application's status as people say it (the API's codes stay as they are).
_STATUS: dict[str, Text] = {"pending": t("pending"), "approved": t("approved"), "rejected": t("rejected")}

_LOCAL = ZoneInfo("Asia/Shanghai")
#: Application states in which the firm may not apply to the same policy again.
_BLOCKING = ("pending", "approved")


def today() -> date:
    """The local (Asia/Shanghai) date: policies' validity and firms' ages are local dates."""
    return datetime.now(_LOCAL).date()


# --- policies --------------------------------------------------------------------------------

_POLICY_COLUMNS = (
    Policy.id, Policy.title, Policy.summary, Policy.benefit, Policy.eligibility,
    Policy.valid_from, Policy.valid_to, Policy.status, Policy.created_at, Policy.department.id,
    Policy.department.code, Policy.department.name_zh, Policy.department.name_en,
)


def _is_open(row: dict[str, Any], on: date) -> bool:
    return (row["status"] == "published" and row["valid_from"] <= on
            and (row["valid_to"] is None or row["valid_to"] >= on))


def _rules(raw: Any) -> Eligibility:
    if isinstance(raw, str | bytes):
        return msgspec.json.decode(raw or "{}", type=Eligibility)
    return msgspec.convert(raw or {}, Eligibility)


def _policy_out(row: dict[str, Any], on: date) -> PolicyOut:
    return PolicyOut(
        id=row["id"], department_code=row["department.code"],
        department_name_zh=row["department.name_zh"], department_name_en=row["department.name_en"],
        title=row["title"], summary=row["summary"], benefit=row["benefit"],
        eligibility=_rules(row["eligibility"]), valid_from=row["valid_from"],
        valid_to=row["valid_to"], status=row["status"], open=_is_open(row, on),
        created_at=row["created_at"],
    )


async def _policy_row(policy_id: int) -> dict[str, Any] | None:
    return await Policy.select(*_POLICY_COLUMNS).where(Policy.id == policy_id).first()


def _listed(texts: list[Text]) -> Text:
    """Texts one after another, "; " between them (a Chinese reader's "；")."""
    return reduce(lambda a, b: t("{a}; {b}", a=a, b=b), texts)


def _visible(row: dict[str, Any], user: AuthUser, on: date) -> bool:
    """Open policies are public; a department also sees its own closed or future ones."""
    return _is_open(row, on) or (user.role == "dept_operator"
                                 and row["department.id"] == user.department_id)


async def _check_rules(rules: Eligibility) -> None:
    towns = None
    if rules.towns:
        found = await Firm.select(Firm.town).where(Firm.town.is_in(list(rules.towns))).distinct()
        towns = {r["town"] for r in found}
    wrong = problems(rules, towns)
    if wrong:
        raise ValidationException(_listed(wrong))


def _check_dates(valid_from: date, valid_to: date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise ValidationException(t("valid_to: must not be before valid_from ({valid_from:date})",
                                    valid_from=valid_from))


def _rules_json(rules: Eligibility) -> str:
    return msgspec.json.encode(rules).decode()


async def publish(user: AuthUser, data: PolicyCreate) -> PolicyOut:
    """A new published policy of the operator's department."""
    department = user.linked_department()
    await _check_rules(data.eligibility)
    valid_from = data.valid_from or today()
    _check_dates(valid_from, data.valid_to)
    policy = Policy(department=department, title=data.title.strip(), summary=data.summary,
                    benefit=data.benefit, eligibility=_rules_json(data.eligibility),
                    valid_from=valid_from, valid_to=data.valid_to, status="published",
                    created_at=datetime.now(UTC))
    await policy.save()
    return await get_policy(user, policy.id)


async def update(user: AuthUser, policy_id: int, data: PolicyUpdate) -> PolicyOut:
    """Change or close one of the department's own policies (others' are refused)."""
    department = user.linked_department()
    row = await _policy_row(policy_id)
    if row is None:
        raise NotFoundException(t("no policy {id}", id=policy_id))
    if row["department.id"] != department:
        raise PermissionDeniedException(t("policy {id} belongs to another department", id=policy_id))
    values: dict[Any, Any] = {}
    for name in ("title", "summary", "benefit", "status", "valid_from", "valid_to"):
        value = getattr(data, name)
        if value is not msgspec.UNSET:
            values[getattr(Policy, name)] = value.strip() if name == "title" else value
    if data.eligibility is not msgspec.UNSET:
        await _check_rules(data.eligibility)
        values[Policy.eligibility] = _rules_json(data.eligibility)
    _check_dates(values.get(Policy.valid_from, row["valid_from"]),
                 values.get(Policy.valid_to, row["valid_to"]))
    if values:
        await Policy.update(values).where(Policy.id == policy_id)
    return await get_policy(user, policy_id)


async def list_policies(user: AuthUser) -> list[PolicyOut]:
    """Open policies, newest first; a department operator also sees all of their own."""
    on = today()
    query = Policy.select(*_POLICY_COLUMNS)
    if user.role == "dept_operator" and user.department_id is not None:
        query = query.where((Policy.status == "published")
                            | (Policy.department.id == user.department_id))
    else:
        query = query.where(Policy.status == "published")
    rows = await (query.order_by(Policy.created_at, ascending=False)
                  .order_by(Policy.id, ascending=False))
    return [_policy_out(r, on) for r in rows if _visible(r, user, on)]


async def get_policy(user: AuthUser, policy_id: int) -> PolicyOut:
    on = today()
    row = await _policy_row(policy_id)
    if row is None or not _visible(row, user, on):
        raise NotFoundException(t("no open policy {id}", id=policy_id))
    return _policy_out(row, on)


async def criteria_catalogue() -> CriteriaCatalogue:
    """The codes an eligibility rule may use, with their names."""
    towns = await Firm.select(Firm.town).distinct().order_by(Firm.town)
    return CriteriaCatalogue(
        industry_sections=[CatalogueEntry(code, zh, en)
                           for code, (_lo, _hi, zh, en) in INDUSTRY_SECTIONS.items()],
        size_classes=[CatalogueEntry(code, zh, en) for code, (zh, en) in SIZE_NAMES.items()],
        grades=list(GRADES),
        towns=[r["town"] for r in towns if r["town"]],
        indicators=[CatalogueIndicator(i.code, i.name_zh, i.name_en, i.dimension, i.unit,
                                       i.computation) for i in INDICATORS.values()],
    )


# --- a firm's facts ------------------------------------------------------------------------

def _last_month_end(on: date) -> date:
    return on.replace(day=1) - timedelta(days=1)


async def _firm_indicators(engine: Engine, firm: dict[str, Any], as_of: date) -> dict[str, float]:
    """The firm's 66 indicators as of a date, from its own records only."""
    records = await load_records(engine, as_of, usccs=[firm["uscc"]])
    frame = pd.DataFrame([{c: firm[c] for c in FIRM_COLUMNS}])
    frame["founded_on"] = pd.to_datetime(frame["founded_on"])
    features = compute_features(records, as_of, frame)
    return {code: float(v) for code, v in features.iloc[0].items()}


async def firm_facts(engine: Engine, firm_id: int, with_indicators: bool) -> tuple[FirmFacts, date]:
    """What eligibility rules read about a firm, and the date its indicators are as of
    (its latest score's date: what its evaluation shows)."""
    firm = await Firm.select(Firm.id, *(getattr(Firm, c) for c in FIRM_COLUMNS)).where(
        Firm.id == firm_id).first()
    if firm is None:
        raise NotFoundException(t("no firm {id}", id=firm_id))
    latest = await (ScoreHistory.select(ScoreHistory.as_of, ScoreHistory.grade)
                    .where(ScoreHistory.firm == firm_id)
                    .order_by(ScoreHistory.as_of, ascending=False)
                    .order_by(ScoreHistory.id, ascending=False).first())
    as_of = latest["as_of"] if latest else _last_month_end(today())
    indicators = await _firm_indicators(engine, firm, as_of) if with_indicators else {}
    facts = FirmFacts(
        uscc=firm["uscc"], industry_section=firm["industry_section"] or None,
        industry_division=firm["industry_division"] or None, size_class=firm["size_class"] or None,
        town=firm["town"] or None, founded_on=firm["founded_on"], status=firm["status"] or None,
        grade=latest["grade"] if latest else None, indicators=indicators,
    )
    return facts, as_of


# --- matching and applying -------------------------------------------------------------------

async def matches(user: AuthUser, engine: Engine) -> PolicyMatches:
    """Every open policy evaluated for the owner's firm: qualifying ones first, the others
    closest first (fewest criteria missing), each with the reasons."""
    firm_id = user.linked_firm()
    on = today()
    rows = [r for r in await Policy.select(*_POLICY_COLUMNS).where(Policy.status == "published")
            .order_by(Policy.created_at, ascending=False) if _is_open(r, on)]
    policies = [_policy_out(r, on) for r in rows]
    facts, as_of = await firm_facts(engine, firm_id,
                                    any(needs_features(p.eligibility) for p in policies))
    applied = await PolicyApplication.select(
        PolicyApplication.id, PolicyApplication.policy, PolicyApplication.status,
    ).where((PolicyApplication.firm == firm_id) & PolicyApplication.status.is_in(list(_BLOCKING))
            ).order_by(PolicyApplication.id)
    current = {a["policy"]: a for a in applied}
    found = []
    for p in policies:
        verdict = evaluate(p.eligibility, facts, on)
        app = current.get(p.id)
        found.append(PolicyMatch(policy=p, eligible=verdict.eligible, criteria=verdict.criteria,
                                 missing=verdict.missing,
                                 application_id=app["id"] if app else None,
                                 application_status=app["status"] if app else None))
    return PolicyMatches(
        firm_uscc=facts.uscc, data_as_of=as_of,
        eligible=[m for m in found if m.eligible],
        not_eligible=sorted((m for m in found if not m.eligible), key=lambda m: len(m.missing)),
    )


async def apply(user: AuthUser, engine: Engine, policy_id: int) -> PolicyApplicationOut:
    """Apply for an open policy the firm qualifies for (refused with the reasons otherwise);
    one pending or approved application per firm and policy."""
    firm_id = user.linked_firm()
    on = today()
    row = await _policy_row(policy_id)
    if row is None:
        raise NotFoundException(t("no policy {id}", id=policy_id))
    if not _is_open(row, on):
        raise ClientException(t("policy_id: policy {id} is not open for applications", id=policy_id),
                              status_code=409)
    rules = _rules(row["eligibility"])
    facts, _ = await firm_facts(engine, firm_id, needs_features(rules))
    verdict = evaluate(rules, facts, on)
    if not verdict.eligible:
        missing = verdict.missing
        said = Written("；".join(c.text_zh for c in missing), "; ".join(c.text_en for c in missing))
        raise ClientException(
            t("eligibility: not eligible: {missing}", missing=said),
            status_code=422, extra={"missing": msgspec.to_builtins(missing)})
    now = datetime.now(UTC)
    async with db.write_transaction():
        if not isinstance(PolicyApplication._meta.db, SQLiteEngine):
            # Serialise applications to this policy (SQLite's IMMEDIATE already does).
            await Policy.select(Policy.id).where(Policy.id == policy_id).lock_rows()
        existing = await PolicyApplication.select(
            PolicyApplication.id, PolicyApplication.status).where(
            (PolicyApplication.policy == policy_id) & (PolicyApplication.firm == firm_id)
            & PolicyApplication.status.is_in(list(_BLOCKING))).first()
        if existing is not None:
            raise ClientException(t(
                "policy_id: your firm already has an application ({application}, {status}) for policy {id}",
                application=existing["id"], status=_STATUS.get(existing["status"], existing["status"]),
                id=policy_id), status_code=409)
        app = PolicyApplication(policy=policy_id, firm=firm_id, status="pending", reason="",
                                created_at=now)
        await app.save()
    out = (await _applications(PolicyApplication.id == app.id))[0]
    out.criteria = verdict.criteria
    return out


# --- applications and decisions -------------------------------------------------------------

_APPLICATION_COLUMNS = (
    PolicyApplication.id, PolicyApplication.policy.id, PolicyApplication.policy.title,
    PolicyApplication.policy.department.code, PolicyApplication.firm.id,
    PolicyApplication.firm.uscc, PolicyApplication.firm.name, PolicyApplication.status,
    PolicyApplication.reason, PolicyApplication.created_at, PolicyApplication.decided_at,
)


async def _applications(where: Any, limit: int = 500) -> list[PolicyApplicationOut]:
    rows = await (PolicyApplication.select(*_APPLICATION_COLUMNS).where(where)
                  .order_by(PolicyApplication.created_at, ascending=False)
                  .order_by(PolicyApplication.id, ascending=False).limit(limit))
    projects = {p["application"]: p["id"] for p in await Project.select(Project.id, Project.application).where(
        Project.application.is_in([r["id"] for r in rows]))} if rows else {}
    return [PolicyApplicationOut(
        id=r["id"], policy_id=r["policy.id"], policy_title=r["policy.title"],
        department_code=r["policy.department.code"], firm_uscc=r["firm.uscc"],
        firm_name=r["firm.name"], status=r["status"], reason=r["reason"],
        created_at=r["created_at"], decided_at=r["decided_at"], project_id=projects.get(r["id"]),
    ) for r in rows]


async def _latest_scores(usccs: Iterable[str]) -> dict[str, EvaluationSummary]:
    """Each firm's most recent score row, as the summary a department sees."""
    usccs = sorted(set(usccs))
    if not usccs:
        return {}
    rows = await (ScoreHistory.select(
        ScoreHistory.firm.uscc, ScoreHistory.as_of, ScoreHistory.score, ScoreHistory.grade,
        ScoreHistory.pd, ScoreHistory.dimensions, ScoreHistory.model_version,
    ).where(ScoreHistory.firm.uscc.is_in(usccs))
        .order_by(ScoreHistory.as_of).order_by(ScoreHistory.id).output(load_json=True))
    return {r["firm.uscc"]: EvaluationSummary(  # later rows win
        as_of=r["as_of"], score=r["score"], grade=r["grade"], pd=r["pd"],
        dimensions=r["dimensions"] or {}, model_version=r["model_version"]) for r in rows}


async def list_applications(user: AuthUser,
                            status: str | None = None) -> list[PolicyApplicationOut]:
    """The owner's own applications; a department's queue of applications to its policies,
    each with the firm's latest score summary attached."""
    if user.role == "owner":
        where = PolicyApplication.firm == user.linked_firm()
    else:
        where = PolicyApplication.policy.department.id == user.linked_department()
    if status is not None:
        where = where & (PolicyApplication.status == status)
    found = await _applications(where)
    if user.role == "dept_operator":
        scores = await _latest_scores(a.firm_uscc for a in found)
        for a in found:
            a.evaluation = scores.get(a.firm_uscc)
        await _log_views(user, {a.firm_uscc for a in found if a.evaluation is not None})
    return found


async def _log_views(user: AuthUser, usccs: set[str]) -> None:
    """The queue shows each applicant's score and dimensions: evaluation content, so every
    firm shown gets an access-log row, as for a bank's view."""
    if not usccs:
        return
    firms = await Firm.select(Firm.id).where(Firm.uscc.is_in(sorted(usccs)))
    now = datetime.now(UTC)
    await AccessLog.insert(*[
        AccessLog(firm=f["id"], viewer=user.id, viewer_role=user.role, bank=None,
                  what="policy_application", at=now)
        for f in firms
    ]).run()


async def decide(user: AuthUser, application_id: int, data: PolicyDecision) -> PolicyApplicationOut:
    """Approve or reject (with a reason) a pending application to the department's policy."""
    department = user.linked_department()
    reason = data.reason.strip()
    if data.decision == "reject" and not reason:
        raise ValidationException(t("reason: required when rejecting an application"))
    row = await PolicyApplication.select(
        PolicyApplication.id, PolicyApplication.status, PolicyApplication.policy.department.id,
    ).where(PolicyApplication.id == application_id).first()
    if row is None:
        raise NotFoundException(t("no application {id}", id=application_id))
    if row["policy.department.id"] != department:
        raise PermissionDeniedException(
            t("application {id} is for another department's policy", id=application_id))
    new_status = "approved" if data.decision == "approve" else "rejected"
    if data.decision == "reject" and data.project is not None:
        raise ValidationException(t("project: only an approval opens a project"))
    async with db.write_transaction():
        # Conditional on still pending: of two concurrent decisions only one changes the row;
        # an approval opens its project in the same transaction (terms checked there: a 400
        # leaves the application pending).
        changed = await PolicyApplication.update({
            PolicyApplication.status: new_status, PolicyApplication.reason: reason,
            PolicyApplication.decided_at: datetime.now(UTC), PolicyApplication.decided_by: user.id,
        }).where((PolicyApplication.id == application_id) & (PolicyApplication.status == "pending")
                 ).returning(PolicyApplication.id)
        if changed and new_status == "approved":
            app_row = await PolicyApplication.select(*_APPLICATION_COLUMNS, PolicyApplication.policy.department.id).where(
                PolicyApplication.id == application_id).first()
            await open_project(app_row, data.project)
    if not changed:
        current = await PolicyApplication.select(PolicyApplication.status).where(
            PolicyApplication.id == application_id).first()
        raise ClientException(
            t("decision: application {id} was already {status}", id=application_id,
              status=_STATUS.get(current["status"], current["status"])),
            status_code=409)
    return (await _applications(PolicyApplication.id == application_id))[0]
