"""Firm profiles and evaluations, with the consent rule for banks and the access log."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.serialization import encode_json

from scoring.explain import describe_feeds
from scoring.grades import GradeBands, ScoreScale
from scoring.records import INDUSTRY_SECTIONS
from server import db
from server.changes import ChangeCache
from server.consent.services import consented_pairs
from server.firms.schemas import (
    DataConfidence,
    DataFinding,
    Evaluation,
    Feed,
    FirmProfile,
    GradeBand,
    IndustryComparison,
    Reason,
    ScorePoint,
)
from server.notifications import owners
from server.objections.services import open_objections
from server.privacy import Group, narrowest, publishable
from server.responses import KeptResponse
from server.settings import Settings
from server.tables.consent import AccessLog
from server.tables.firms import Firm, FirmPerson
from server.tables.scores import (
    STATS_META_KEY,
    STATS_REGION_KEY,
    ModelVersion,
    ScoreHistory,
    ScoringRun,
)
from server.texts import t
from server.users.security import AuthUser

__all__ = ["Evaluations", "get_evaluation", "has_active_consent", "profile", "search"]

_LOCAL = ZoneInfo("Asia/Shanghai")  # a day of views, as the owner counts it


async def has_active_consent(firm_id: int, bank_id: int, now: datetime | None = None) -> bool:
    """Whether the firm's consent to the bank for its evaluation is in force: read from the
    database on every request (never cached), so a revoke refuses the bank's next request."""
    return bool(await consented_pairs([(firm_id, bank_id)], now=now))


#: The months of score history an evaluation shows.
HISTORY_MONTHS = 24


class _Kept:
    """A firm and its evaluation, with the route's answer made of it (its JSON) once it was
    asked for."""

    __slots__ = ("evaluation", "firm", "response")

    def __init__(self, firm: dict, evaluation: Evaluation) -> None:
        self.firm, self.evaluation = firm, evaluation
        self.response: KeptResponse | None = None


async def get_evaluation(uscc: str, viewer: AuthUser, history_months: int = HISTORY_MONTHS, *,
                         min_group_size: int | None = None) -> Evaluation:
    """The firm's latest evaluation, if the viewer may see it; views by others are logged.
    ``min_group_size`` is the K of the industry block (default: the run's, at least 5)."""
    return (await _viewed(uscc, viewer, history_months, min_group_size, None, None)).evaluation


@dataclass(frozen=True, slots=True)
class Evaluations:
    """What the evaluation route is handed (one dependency: Litestar resolves several side by
    side in a task group per request): the process's cache, None without a change feed, and
    the K of the industry block."""

    cache: ChangeCache | None
    min_group_size: int

    async def response(self, uscc: str, viewer: AuthUser,
                       scope: MutableMapping[str, Any] | None = None) -> KeptResponse:
        """:func:`get_evaluation` as the API sends it: the JSON as Litestar encodes the struct,
        in a response whose ASGI form is made once per copy (``server.responses.KeptResponse``).

        With ``cache`` (PostgreSQL, ``server.changes``) the firm, its evaluation, the JSON and
        the response are kept and dropped when the database reports a change of the firm, its
        scores or its objections. Who may see it is decided on every request all the same: a
        bank's consent is read each time and its view logged."""
        kept = await _viewed(uscc, viewer, HISTORY_MONTHS, self.min_group_size, self.cache, scope)
        if kept.response is None:
            kept.response = KeptResponse(encode_json(kept.evaluation))
        return kept.response


async def _viewed(uscc: str, viewer: AuthUser, history_months: int, min_group_size: int | None,
                  cache: ChangeCache | None, scope: MutableMapping[str, Any] | None) -> _Kept:
    key = (uscc, history_months, min_group_size)
    cached, ticket = None, 0
    if cache is not None:
        await cache.sync(scope)
        cached = cache.get(key)
        ticket = cache.ticket()
    if cached is None:
        firm = await Firm.select(
            Firm.id, Firm.uscc, Firm.name, Firm.industry_section, Firm.industry_division,
        ).where(Firm.uscc == uscc).first()
        if firm is None:
            raise NotFoundException(t("no firm with uscc {uscc}", uscc=uscc))
    else:
        firm = cached.firm
    if viewer.role == "owner":
        if viewer.firm_id != firm["id"]:
            raise PermissionDeniedException(t("owners see only their own firm's evaluation"))
    elif viewer.role == "bank_manager":
        if viewer.bank_id is None or not await has_active_consent(firm["id"], viewer.bank_id):
            raise PermissionDeniedException(t("no active consent: the firm has not granted your bank access"))
    elif viewer.role != "admin":
        raise PermissionDeniedException(t("only the firm's owner, consented banks and admins see evaluations"))
    if cached is None:
        cached = _Kept(firm, await _evaluation(firm, history_months, min_group_size))
        if cache is not None:
            tag = str(firm["id"])
            cache.put(key, cached, [("firm", tag), ("score", tag), ("objection", tag)], ticket)
    if viewer.role != "owner":
        now = datetime.now(UTC)
        async with db.write_transaction():  # the view logged and the owners told, together
            await AccessLog.insert(AccessLog(
                firm=firm["id"], viewer=viewer.id, viewer_role=viewer.role, bank=viewer.bank_id,
                what="evaluation", at=now,
            )).run()
            await owners.evaluation_viewed(firm["id"], viewer.role, viewer.bank_id, now.astimezone(_LOCAL).date())
    return cached


async def _evaluation(firm: dict, history_months: int, min_group_size: int | None) -> Evaluation:
    """What the firm's evaluation says (404 when it has not been scored)."""
    # The history as (date, score, grade), then its newest row in full: reading every row's
    # dimensions, reasons and data confidence cost most of an evaluation's time. Rows are
    # never changed once written, so the two reads agree whatever is scored meanwhile.
    rows = await (
        ScoreHistory.select(ScoreHistory.id, ScoreHistory.as_of, ScoreHistory.score, ScoreHistory.grade)
        .where(ScoreHistory.firm == firm["id"])
        .order_by(ScoreHistory.as_of, ScoreHistory.id, ascending=False)
        .limit(200)
    )
    if not rows:
        raise NotFoundException(t("firm {uscc} has not been scored yet", uscc=firm["uscc"]))
    latest = await (
        ScoreHistory.select(
            ScoreHistory.as_of, ScoreHistory.score, ScoreHistory.grade, ScoreHistory.pd,
            ScoreHistory.dimensions, ScoreHistory.reasons, ScoreHistory.model_version,
            ScoreHistory.weight_profile_version, ScoreHistory.created_at, ScoreHistory.run,
            ScoreHistory.data_confidence,
        )
        .where(ScoreHistory.id == rows[0]["id"])
        .output(load_json=True)
        .first()
    )
    if latest is None:  # removed meanwhile (a firm deleted with its scores)
        raise NotFoundException(t("firm {uscc} has not been scored yet", uscc=firm["uscc"]))
    history: dict = {}
    for r in rows:  # newest first: keep the latest run of each as_of
        history.setdefault(r["as_of"], ScorePoint(as_of=r["as_of"], score=r["score"], grade=r["grade"]))
    return Evaluation(
        uscc=firm["uscc"], name=firm["name"], as_of=latest["as_of"], score=latest["score"],
        grade=latest["grade"], pd=latest["pd"], model_version=latest["model_version"],
        weight_profile_version=latest["weight_profile_version"],
        dimensions=latest["dimensions"] or {},
        reasons=msgspec.convert(latest["reasons"] or [], list[Reason]),
        history=sorted(history.values(), key=lambda p: p.as_of)[-history_months:],
        scored_at=latest["created_at"],
        industry=await _industry(firm, latest, min_group_size),
        disputed=await open_objections(firm["id"]),
        data_confidence=_data_confidence(latest["data_confidence"]),
        grade_band=await _grade_band(latest["model_version"], latest["grade"]),
    )


def _data_confidence(stored: dict | None) -> DataConfidence | None:
    if not stored:
        return None
    missing = describe_feeds(list(stored.get("missing", [])))
    checked = stored.get("authenticity") or {}
    return DataConfidence(share=float(stored["share"]), level=stored["level"], sources=int(stored["sources"]),
                          reporting=int(stored["sources"]) - len(missing),
                          missing=[Feed(**f) for f in missing],
                          coverage_level=stored.get("coverage_level", stored["level"]),
                          departments=list(checked.get("departments", [])),
                          summary_zh=checked.get("summary_zh", ""), summary_en=checked.get("summary_en", ""),
                          findings=msgspec.convert(checked.get("findings", []), list[DataFinding]))


#: A model version's scale and bands never change once stored: read once per process.
_MODEL_CONFIG: dict[str, dict] = {}


async def _grade_band(model_version: str, grade: str) -> GradeBand | None:
    """The PD band and score range of ``grade`` under the model version that gave it."""
    config = _MODEL_CONFIG.get(model_version)
    if config is None:
        row = await ModelVersion.select(ModelVersion.config).where(
            ModelVersion.version == model_version).output(load_json=True).first()
        config = (row or {}).get("config") or {}
        if config:
            _MODEL_CONFIG[model_version] = config
    scale, bands = config.get("score_scale"), config.get("pd_bands")
    if not scale or not bands or grade not in bands.get("grades", []):
        return None
    grades, upper = list(bands["grades"]), [float(u) for u in bands["upper"]]
    k = grades.index(grade)
    lows = GradeBands.from_dict(bands).min_scores(ScoreScale(**scale))
    return GradeBand(grade=grade, pd_from=upper[k - 1] if k > 0 else 0.0,
                     pd_to=upper[k] if k < len(upper) else None, score_from=lows[grade],
                     score_to=lows[grades[k - 1]] - 1 if k > 0 else None)


#: A scoring run's industry statistics never change once stored (``scores.pipeline`` writes them
#: with the run): kept per process, by database and run, for the latest runs.
_RUN_STATS: OrderedDict[tuple[str, int], dict] = OrderedDict()
_RUN_STATS_KEPT = 16


async def _run_stats(run_id: int | None) -> dict:
    """The industry statistics stored with a scoring run ({} for none or an older run's)."""
    if run_id is None:
        return {}
    key = (db.engine_key(ScoringRun._meta.db), int(run_id))
    stats = _RUN_STATS.get(key)
    if stats is None:
        row = await ScoringRun.select(ScoringRun.industry_stats).where(
            ScoringRun.id == run_id).output(load_json=True).first()
        stats = (row or {}).get("industry_stats") or {}
        if not row:
            return stats  # not stored (yet, in this database): ask again next time
        _RUN_STATS[key] = stats
        while len(_RUN_STATS) > _RUN_STATS_KEPT:
            _RUN_STATS.popitem(last=False)
    else:
        _RUN_STATS.move_to_end(key)
    return stats


#: A division is compared with its own firms only when it has at least this many (a
#: statistical floor; the privacy floor, K firms besides the viewer, applies on top).
MIN_DIVISION_FIRMS = 20


def _stat_groups(stats: dict) -> list[Group]:
    """The stored statistics' groups as a hierarchy: divisions large enough to compare with,
    sections, and the region (its count summed from the sections when an older run did not
    store its entry)."""
    sections = {k: v for k, v in stats.items() if k.isalpha() and k != STATS_REGION_KEY}
    region = stats.get(STATS_REGION_KEY, {}).get("firms", sum(int(v["firms"]) for v in sections.values()))
    groups = [Group("region", STATS_REGION_KEY, int(region))]
    groups += [Group("section", k, int(v["firms"]), STATS_REGION_KEY) for k, v in sections.items()]
    groups += [Group("division", k, int(v["firms"]), k.split(":")[0]) for k, v in stats.items()
               if ":" in k and k.split(":")[0] in sections and v["firms"] >= MIN_DIVISION_FIRMS]
    return groups


async def _industry(firm: dict, latest: dict, min_group_size: int | None = None) -> IndustryComparison | None:
    """The firm's place among its peers, from the statistics stored with the scoring run of
    its latest score (a firm re-scored alone is placed among the firms of the last whole run
    by that date): its division, else its section, else the whole region, whichever is the
    narrowest with K firms besides this one that the small-group rule lets the platform
    publish (``server.privacy``); None when not even the region qualifies."""
    stats = await _run_stats(latest["run"])
    if not stats:  # a firm re-scored alone: the latest run by that date that scored everyone
        # (for a firm scored as of a serious event, the month end's run before the event)
        runs = await ScoringRun.select(ScoringRun.industry_stats).where(
            ScoringRun.as_of <= latest["as_of"]
        ).order_by(ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False
                                                               ).limit(20).output(load_json=True)
        stats = next((r["industry_stats"] for r in runs if r["industry_stats"]), {})
    if not stats:
        return None
    # Never below the K the run was made with, nor the K configured now.
    k = max(int(stats.get(STATS_META_KEY, {}).get("min_group_size", 0)),
            min_group_size or Settings().min_group_size)
    groups = _stat_groups(stats)
    by_code = {g.code: g for g in groups}
    section = firm["industry_section"]
    division = f"{section}:{firm['industry_division']}"
    chain = [by_code[c] for c in (division, section, STATS_REGION_KEY) if c in by_code]
    # The evaluated firm is in every group of its chain and its viewer knows its score.
    allowed = {c for c in publishable(groups, k) if c in stats}
    group = narrowest(chain, k, viewer_in_group=True, allowed=allowed)
    if group is None:
        return None
    entry = stats[group.code]
    quantiles = np.asarray(entry["score_quantiles"], dtype=float)
    # Percentile by interpolating the stored percentile points (ties share the middle).
    below = np.searchsorted(quantiles, latest["score"], side="left")
    upto = np.searchsorted(quantiles, latest["score"], side="right")
    percentile = float(min(100.0, (below + upto) / 2))
    _lo, _hi, name_zh, name_en = INDUSTRY_SECTIONS.get(section, (0, 0, section, section))
    if group.level == "division":
        name_zh, name_en = f"{name_zh}（{firm['industry_division']}大类）", f"{name_en} (division {firm['industry_division']})"
    elif group.level == "region":
        name_zh, name_en = "全区", "the whole region"
    return IndustryComparison(
        code=group.code, name_zh=name_zh, name_en=name_en, firms=int(entry["firms"]),
        percentile=round(percentile, 1), mean_score=float(entry["mean_score"]),
        dimensions={d: float(v) for d, v in entry["dimensions"].items()},
        level=group.level, min_group_size=k,
    )


async def _latest_grades(firm_ids: list[int]) -> dict[int, str]:
    """Each firm's grade letter from its most recent score (public on the platform)."""
    if not firm_ids:
        return {}
    rows = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade, ScoreHistory.as_of, ScoreHistory.id).where(
        ScoreHistory.firm.is_in(firm_ids)).order_by(ScoreHistory.as_of).order_by(ScoreHistory.id)
    return {r["firm"]: r["grade"] for r in rows}  # later rows win


_PROFILE_COLUMNS = (Firm.id, Firm.uscc, Firm.name, Firm.industry_section, Firm.industry_division, Firm.town,
                    Firm.founded_on, Firm.size_class, Firm.status, Firm.registered_capital_fen)


def _profile(row: dict, grades: dict[int, str], legal_representative: str | None = None) -> FirmProfile:
    fields = {k: v for k, v in row.items() if k not in ("id", "registered_capital_fen")}
    capital = row["registered_capital_fen"]
    return FirmProfile(**fields, grade=grades.get(row["id"]),
                       registered_capital_yuan=None if capital is None else capital // 100,
                       legal_representative=legal_representative)


async def _legal_representative(firm_id: int) -> str | None:
    """The name of the firm's current legal representative (the latest one not ended)."""
    row = await FirmPerson.select(FirmPerson.person.name).where(
        (FirmPerson.firm == firm_id) & (FirmPerson.role == "legal_rep") & FirmPerson.end_date.is_null()
    ).order_by(FirmPerson.start_date, ascending=False).order_by(FirmPerson.id, ascending=False).first()
    return None if row is None else row["person.name"]


async def _latest_run_id() -> int | None:
    """The latest run that scored (nearly) every firm: runs re-scoring a few firms after an
    objection or new data are left out, whatever their reason."""
    runs = await ScoringRun.select(ScoringRun.id, ScoringRun.firms).order_by(
        ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False).limit(50)
    if not runs:
        return None
    most = max(r["firms"] for r in runs)
    return next(r["id"] for r in runs if r["firms"] >= 0.9 * most)


async def search(q: str | None = None, limit: int = 20, *, grade: str | None = None,
                 industry: str | None = None, town: str | None = None,
                 offset: int = 0, sort: str = "name") -> list[FirmProfile]:
    """Firms whose name contains ``q`` or whose code starts with it (every firm without ``q``),
    optionally screened by current grade, industry section and town, a page of ``limit`` from
    ``offset`` in the ``sort`` order (name, capital: largest first, founded: oldest first; ties
    by name, then id): public fields only, for prospecting."""
    query = Firm.select(*_PROFILE_COLUMNS)
    q = (q or "").strip()
    if q and (len(q) == 18 or (q[:1].isdigit() and q.isalnum())):
        query = query.where(Firm.uscc.like(f"{q.upper()}%"))
    elif q:
        escaped = q.replace("\\", "").replace("%", "").replace("_", "")
        query = query.where(Firm.name.like(f"%{escaped}%"))
    if industry:
        query = query.where(Firm.industry_section == industry)
    if town:
        query = query.where(Firm.town == town)
    if grade:
        run = await _latest_run_id()
        if run is None:
            return []
        query = query.where(Firm.id.is_in(
            ScoreHistory.select(ScoreHistory.firm).where((ScoreHistory.run == run) & (ScoreHistory.grade == grade))))
    if sort == "capital":
        query = query.order_by(Firm.registered_capital_fen, ascending=False)
    elif sort == "founded":
        query = query.order_by(Firm.founded_on)
    rows = await query.order_by(Firm.name).order_by(Firm.id).limit(limit).offset(offset)
    grades = await _latest_grades([r["id"] for r in rows])
    # a firm re-scored alone since the run may have moved: show what is current
    return [_profile(r, grades) for r in rows if not grade or grades.get(r["id"]) == grade]


async def profile(uscc: str) -> FirmProfile:
    row = await Firm.select(*_PROFILE_COLUMNS).where(Firm.uscc == uscc).first()
    if row is None:
        raise NotFoundException(t("no firm with uscc {uscc}", uscc=uscc))
    return _profile(row, await _latest_grades([row["id"]]), await _legal_representative(row["id"]))
