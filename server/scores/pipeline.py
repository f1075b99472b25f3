"""Training the platform model and scoring every firm: named batch steps over the database.

The scoring library does the maths on frames; this module reads the frames out of the
database, registers models, and writes scores as new history rows (never updates in place),
each naming the model version, the weight-profile version and the override rule-set version.
Firms a hard override hits (in default, dishonest debtor, revoked: ``scoring.overrides``) are
stored as grade D with the override as their first reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from piccolo.engine.base import Engine

from scoring import (
    ModelRegistry,
    data_hash,
    indicator_scorecard,
    region_dataset,
    score_region,
)
from scoring._codes import factorize_objects
from scoring.authenticity import Assessment, feed_health
from scoring.features import compute_features, credit_exposed, default_labels
from scoring.monitoring import grade_migration
from scoring.monitoring import metrics as model_metrics
from scoring.overrides import OverrideRuleSet
from scoring.pipeline import RegionScores
from scoring.records import current_versions, rows_where
from server import db
from server.engines import url_of
from server.ingest.store import open_writer
from server.runtime import frozen_heap, large_batch
from server.scores.frames import (
    event_dates,
    latest_months,
    load_arrivals,
    load_firms,
    load_record_history,
    load_redeclared_history,
    load_scalar,
    load_scoring_inputs,
    meter_groups,
    packed_cells,
)
from server.scores.packing import pack_dirty
from server.scores.run_rows import run_texts
from server.settings import Settings
from server.tables.scores import (
    STATS_META_KEY,
    STATS_REGION_KEY,
    ModelVersion,
    ScoreHistory,
    ScoringRun,
)

__all__ = [
    "activate_model",
    "data_end",
    "ensure_model_and_scores",
    "industry_stats",
    "score_platform",
    "stored_data_end",
    "train_platform_model",
]

log = logging.getLogger("xinbao.scores")

HORIZON_MONTHS = 12
# Training pools several as-of dates (a year apart from the label window each) for more defaults.
TRAIN_OFFSETS_MONTHS = (12, 15, 18)
HISTORY_MONTHS = 12  # months of back-scores written when a region is first scored
_ACTIVATE_LOCK = 0x7B1A0C71  # advisory lock key: one model activation at a time on PostgreSQL


def release_frames() -> None:
    """Free whatever a step left in reference cycles now, not when the cyclic collector next
    runs. ``scoring`` leaves none (``tests/unit/scoring/test_no_cycles.py``); a full collection
    costs about 0.13 s whatever is found, so the single-date re-score does not call it. Training
    (between its dates), the model comparison and the after-ingest process (after each batch) do,
    to bound what a cycle elsewhere could hold: before ``scoring``'s were removed, ``xinbao
    train`` grew by about 2.3 GiB per training date at 120,000 firms without it."""
    gc.collect()


#: The monthly feeds whose latest month is the platform's 'now'.
_DATA_END_KINDS = ("tax_monthly", "social_insurance", "utility", "bank_loan")


def _latest(frame: pd.DataFrame, column: str) -> tuple[bool, Any, Any]:
    """Whether ``frame`` holds a row of the monthly feeds, their latest ``column`` (NaT if
    none) and the latest ``column`` of all its rows (one column read: no copy of the frame).
    The kinds are told apart by their codes (``factorize_objects``: a few distinct texts), and
    naive nanosecond dates are compared as integers."""
    codes, kinds = factorize_objects(frame["kind"])
    monthly = np.append(pd.Index(kinds).isin(_DATA_END_KINDS), False)[codes]  # -1 (no kind): the last
    dates = frame[column]
    if dates.dtype != np.dtype("datetime64[ns]"):
        return bool(monthly.any()), dates[monthly].max() if monthly.any() else pd.NaT, dates.max()
    ns = dates.to_numpy().view(np.int64)
    dated = ns != np.iinfo(np.int64).min  # NaT: skipped, as pandas' max skips it

    def latest(rows: np.ndarray) -> Any:  # a masked maximum: no copy of the dates chosen
        return pd.Timestamp(int(ns.max(where=rows, initial=np.iinfo(np.int64).min))) if rows.any() else pd.NaT

    return bool(monthly.any()), latest(monthly & dated) if monthly.any() else pd.NaT, latest(dated)


def _month_end_of(latest: list[tuple[bool, Any, Any]]) -> pd.Timestamp:
    """The month-end of the latest monthly feed's date over the parts (of every date when no
    part holds a monthly row)."""
    if any(m for m, _, _ in latest):
        last = max(v for m, v, _ in latest if m)
    else:
        known = [v for _, _, v in latest if not pd.isna(v)]
        last = max(known) if known else pd.NaT
    if pd.isna(last):
        raise RuntimeError("no department records yet: ingest data before training or scoring")
    return pd.Timestamp(last) + pd.offsets.MonthEnd(0)


def data_end(records: pd.DataFrame) -> pd.Timestamp:
    """The last month-end the monthly feeds cover: the platform's 'now' for scoring."""
    return _month_end_of([_latest(records, "event_date")])


def store_data_end(cells: pd.DataFrame, records: pd.DataFrame) -> pd.Timestamp:
    """``data_end(event_dates(cells, records))`` without joining the cells' and the records'
    columns into one frame (1.9 M cells at 10,000 firms)."""
    return _month_end_of([_latest(cells, "first_event"), _latest(records, "event_date")])


async def stored_data_end(engine: Engine) -> pd.Timestamp:
    """:func:`data_end` of the stored records, read from the feature store's months (the store
    keeps every monthly kind) instead of the records; from the other kinds' latest day when no
    monthly feed has reported."""
    kinds = ", ".join(f"'{k}'" for k in _DATA_END_KINDS)
    month = (await load_scalar(engine, f"SELECT MAX(month) FROM firm_month WHERE kind IN ({kinds})"))
    if month is not None:
        return pd.Timestamp(np.datetime64(int(month), "M")) + pd.offsets.MonthEnd(0)
    last = await load_scalar(engine, "SELECT MAX(event_date) FROM dept_record WHERE superseded_at IS NULL")
    if last is None:
        raise RuntimeError("no department records yet: ingest data before training or scoring")
    return pd.Timestamp(last) + pd.offsets.MonthEnd(0)


def _registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.model_dir)


async def _with_engine(settings: Settings, engine: Engine | None):
    if engine is not None:
        return engine, False
    return await db.open_engine(settings.database_url), True


async def train_platform_model(settings: Settings, as_of: date | None = None,
                               engine: Engine | None = None, *, hold: bool = False) -> str:
    """Fit the indicator scorecard on the platform's labelled history and register it; activate it
    unless it would move more than ``settings.grade_change_confirm_share`` of the firms to
    another grade than the active model (then it waits for an admin: ``promote_model``), or
    ``hold`` asks that it wait for an admin's review whatever it changes (the back office's
    "train a candidate"). The fits run in a worker thread: an API that trains keeps answering."""
    engine, owned = await _with_engine(settings, engine)
    try:
        firms = await load_firms(engine)
        # Every version of every record: the indicators at each training date read what the
        # platform knew that day (time-correct), the labels and today's checks the current rows.
        history = await load_record_history(engine)
        records = current_versions(history)
        end = pd.Timestamp(as_of) if as_of else data_end(records)
        dates = [end - pd.DateOffset(months=m) + pd.offsets.MonthEnd(0) for m in TRAIN_OFFSETS_MONTHS]
        train_dates = [d for d in dates if d > records["event_date"].min()]
        parts = []
        for d in train_dates:
            parts.append(await asyncio.to_thread(region_dataset, firms, history, [d], HORIZON_MONTHS))
            release_frames()
        del history
        X = pd.concat([p[0] for p in parts])
        y = pd.concat([p[1] for p in parts])
        # Out-of-time check: a model fitted on the older dates scores the newest labelled one.
        X_new, y_new = parts[0]
        figures: dict[str, Any] = {}
        calibration: list[dict[str, Any]] = []
        first_loan_figures: dict[str, Any] = {}
        if len(parts) > 1 and y_new.nunique() == 2:
            X_old = pd.concat([p[0] for p in parts[1:]])
            y_old = pd.concat([p[1] for p in parts[1:]])
            older = await asyncio.to_thread(
                indicator_scorecard(settings.model_regularization, n_bags=settings.model_bags).fit,
                X_old, y_old.to_numpy(), groups=X_old.index.to_numpy())
            held = older.rate(X_new)
            figures = {f"oot_{k}": v for k, v in model_metrics(y_new.to_numpy(), held.pd).items()}
            calibration = _calibration(held.grade, held.pd, y_new.to_numpy())
            first_loan = _first_loans(X_new.index, records, train_dates[0])
            if first_loan.any():  # how the card reads a firm that owes nothing yet
                first_loan_figures = {"firms": int(first_loan.sum()),
                                             "mean_pd": float(held.pd[first_loan].mean()),
                                             "bad_rate": float(y_new.to_numpy()[first_loan].mean())}
        model = await asyncio.to_thread(
            indicator_scorecard(settings.model_regularization, n_bags=settings.model_bags).fit,
            X, y.to_numpy(), groups=X.index.to_numpy())
        registry = _registry(settings)
        # The hash, rows and bad rate cover every training date (the whole matrix the model saw).
        version = registry.save(model, training_hash=data_hash(X, y), metrics=figures,
                                extra={"train_as_of": [str(d.date()) for d in train_dates],
                                       "n_bags": settings.model_bags,
                                       "regularization": settings.model_regularization,
                                       "horizon_months": HORIZON_MONTHS, "rows": int(len(y)),
                                       "bad_rate": float(np.mean(y)),
                                       "oot_as_of": str(train_dates[0].date()),
                                       "oot_calibration": calibration,
                                       "oot_first_loan": first_loan_figures,
                                       "population": _population(X, firms, records, train_dates)})
        meta = registry.meta(version)
        changes = await _grade_changes(settings, model, firms, records, end)
        waits = hold or (changes is not None and changes["share"] > settings.grade_change_confirm_share)
        async with db.write_transaction():  # stored and (unless it waits) activated together
            await ModelVersion(version=version, created_at=datetime.now(UTC), metrics=figures,
                               config={"pd_bands": meta["pd_bands"], "score_scale": meta["score_scale"],
                                       "train_as_of": meta["train_as_of"]},
                               grade_changes=changes or {}, awaiting_confirmation=waits).save()
            if not waits:
                await activate_model(version)
        log.info("trained %s on %s rows: %s; grade changes %s%s", version, len(y), figures,
                 None if changes is None else f"{changes['changed']}/{changes['firms']}",
                 " - awaits an admin's confirmation" if waits else "")
        return version
    finally:
        if owned:
            await db.close(engine)


def _calibration(grades: np.ndarray, pd_: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
    """Per grade: firms, the mean predicted PD and the observed default rate."""
    out = []
    for g in sorted(set(grades.tolist())):
        m = grades == g
        out.append({"grade": str(g), "firms": int(m.sum()), "mean_pd": float(pd_[m].mean()),
                    "bad_rate": float(y[m].mean()), "defaults": int(y[m].sum())})
    return out


def _population(X: pd.DataFrame, firms: pd.DataFrame, records: pd.DataFrame,
                dates: list[pd.Timestamp]) -> dict[str, Any]:
    """Who the model learned from: rows and distinct firms of the development population (firms
    owing a bank during the outcome window, ``scoring.features.credit_exposed``), and at the
    newest training date how many firms not in default were in it and how many were left out."""
    newest = max(dates)
    live = firms[pd.to_datetime(firms["founded_on"]).fillna(newest) <= newest]
    alive = default_labels(records, newest, HORIZON_MONTHS, firms=live).index
    exposed = int(credit_exposed(records, newest, HORIZON_MONTHS, firms=alive).sum())
    return {"rows": int(len(X)), "firms": int(pd.Index(X.index).nunique()), "dates": len(dates),
            "definition": "exposed", "as_of": str(newest.date()), "firms_not_in_default": int(len(alive)),
            "exposed_firms": exposed, "unexposed_firms": int(len(alive)) - exposed}


def _first_loans(index: pd.Index, records: pd.DataFrame, as_of: pd.Timestamp) -> np.ndarray:
    """Which firms of ``index`` had no bank loan on or before ``as_of`` (first-time borrowers)."""
    loans = records[(records["kind"] == "bank_loan") & (records["event_date"] <= as_of)]
    return ~np.asarray(index.isin(loans["uscc"].unique()))


async def _grade_changes(settings: Settings, model: Any, firms: pd.DataFrame, records: pd.DataFrame,
                         end: pd.Timestamp) -> dict[str, Any] | None:
    """How many of today's firms the new model would give another grade than the active one
    (hard overrides applied to both, no weight profile); None when no usable model is active."""
    active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    if active is None:
        return None
    try:
        current = (await asyncio.to_thread(_registry(settings).load, active["version"])).model
    except Exception as exc:  # artifact gone: nothing to compare with
        log.warning("active model %s unusable (%s): no grade comparison", active["version"], exc)
        return None
    from server.scores.services import active_override_rules

    rules = await active_override_rules()
    # The region scored twice is the slowest step after the fits: a worker thread too.
    migration = await asyncio.to_thread(_migration, current, model, firms, records, end, rules)
    return {"against": active["version"], "as_of": str(end.date()), **migration}


def _migration(current: Any, model: Any, firms: pd.DataFrame, records: pd.DataFrame, end: pd.Timestamp,
               rules: Any) -> dict[str, Any]:
    """The grade migration from ``current`` to ``model`` over the firms that exist at ``end``."""
    live = firms[pd.to_datetime(firms["founded_on"]) <= end].reset_index(drop=True)
    seen = rows_where(records, records["event_date"] <= end)
    X = compute_features(seen, end, firms=live)  # once, for both models
    grades = []
    for m in (current, model):
        grades.append(score_region(m, live, seen, end.date(), overrides=rules, status_known_on=end.date(),
                                   features=X).table["grade"])
        release_frames()
    return grade_migration(*grades)


async def activate_model(version: str, promoted_by: int | None = None) -> None:
    """Make ``version`` the one active model, atomically: one UPDATE sets every row's flag,
    under a lock on PostgreSQL (SQLite's IMMEDIATE transaction serialises writers), and the
    unique partial index ``model_version_one_active`` refuses a second active row."""
    async with db.write_transaction():
        if db.on_postgres():
            await ModelVersion.raw("SELECT pg_advisory_xact_lock({})", _ACTIVATE_LOCK)
        await ModelVersion.update({ModelVersion.active: False}).where(
            (ModelVersion.active == True) & (ModelVersion.version != version))  # noqa: E712
        await ModelVersion.update({ModelVersion.active: True, ModelVersion.awaiting_confirmation: False,
                                   ModelVersion.promoted_by: promoted_by,
                                   ModelVersion.promoted_at: datetime.now(UTC)}).where(
            ModelVersion.version == version)


async def score_platform(settings: Settings, as_of: date | None = None, version: str | None = None,
                         engine: Engine | None = None, history_months: int = 0,
                         reason: str = "full", from_store: bool | None = None) -> dict[str, Any]:
    """Score every firm as of a date (default: the data's last month) with the active model.

    ``from_store`` (default: when only that one date is scored, ``history_months`` 0): read the
    monthly feeds from the feature store's cells instead of their rows (``_store_inputs``), the
    same scores with a small share of the reading. Back-scores read every version of every
    record, because each past date must see only what the platform knew that day."""
    with frozen_heap(), contextlib.ExitStack() as held:  # the imports' objects out of the collector's full passes
        engine, owned = await _with_engine(settings, engine)
        try:
            if version is None:
                active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
                if active is None:
                    raise RuntimeError("no active model: run `xinbao train` first")
                version = active["version"]
            model = _registry(settings).load(version).model
            firms = await load_firms(engine)
            store = history_months == 0 if from_store is None else from_store
            if store:
                await pack_dirty(engine)  # the firms changed since their last pack: read as packs now
            cells = arrivals = None
            records: pd.DataFrame | None = None
            declared: pd.DataFrame | None = None
            # a large region without a cluster: read and scored part by part here, as the
            # cluster's workers would (``server.scores.distributed.score_stored_in_process``)
            parts = (0 if settings.dask_scheduler or not settings.score_part_firms
                     else -(-len(firms) // settings.score_part_firms))
            if store and (settings.dask_scheduler or parts > 1):
                # the workers (or this process, part by part) read their parts of the store
                end = pd.Timestamp(as_of) if as_of else await stored_data_end(engine)
            elif store:
                # the whole region's cells in this process: on huge pages when they are many
                held.enter_context(large_batch(await packed_cells(engine)))
                cells, records, history = await _store_inputs(engine)
                end = pd.Timestamp(as_of) if as_of else store_data_end(cells, records)
                arrivals = await _recent_arrivals(engine, latest_months(cells, end), end)
            else:
                # Every version of every record: the indicators at each back-score date read what the
                # platform knew that day (time-correct), the labels and today's checks the current rows.
                history = await load_record_history(engine)
                records = current_versions(history)
                end = pd.Timestamp(as_of) if as_of else data_end(records)
            dates = [end - pd.DateOffset(months=m) + pd.offsets.MonthEnd(0) for m in range(history_months, 0, -1)]
            from server.scores.services import active_override_rules

            rules = await active_override_rules()
            written = 0
            latest = None
            if records is not None:
                # every version of the VAT declarations, sliced once: the re-declaration check reads them
                declared = history[(history["kind"] == "tax_monthly") & (history["category"] == "vat")]
            seen = None
            for d in [*dates, end]:
                # The registry status in the firms table is today's: back-scores must not read it.
                count, latest, read = await _score_one_date(
                    engine, model, version, firms, records, d, reason, settings.min_group_size, rules, end.date(),
                    history=declared, cells=cells, dask=settings.dask_scheduler, database_url=url_of(engine),
                    parts=parts)
                written += count  # (no collection here: a date's frames go when the next replaces them,
                # as scoring leaves no reference cycle: tests/unit/scoring/test_no_cycles.py)
            if read is not None:  # read by the workers: who reported each month, and the arrivals
                seen, months = read
                arrivals = await _recent_arrivals(engine, months, end)
            elif records is not None:
                seen = history if cells is None else event_dates(cells)  # who reported each month
            if latest is not None and latest.authenticity is not None:
                await _store_feed_health(seen, firms, end, latest.authenticity, arrivals)
            await _rescore_event_rows(engine, settings, version, end.date(), reason)
            return {"model_version": version, "as_of": str(end.date()), "firms": int(len(firms)),
                    "scores_written": written, "override_version": rules.label}
        finally:
            if owned:
                await db.close(engine)


async def _store_inputs(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """What a re-score reads with the feature store: the cells (shared meters split), the
    current rows of the other kinds, and the tax history of the firms with a re-declaration."""
    cells, records = await load_scoring_inputs(engine)
    history = await load_redeclared_history(engine)
    return cells, records, history


async def _recent_arrivals(engine: Engine, latest: dict[str, int], end: pd.Timestamp) -> pd.DataFrame:
    """The arrivals of the monthly feeds' rows over the months the feed-health lateness reads
    (the last three each kind reported by ``end``; ``latest``: each kind's latest month, from
    ``latest_months``), counted per day and arrival time."""
    if not latest:
        return pd.DataFrame({"kind": [], "event_date": pd.to_datetime([]), "known_from": pd.to_datetime([]),
                             "rows": np.array([], dtype=np.int64)})
    earliest = min(latest.values()) - 2  # months since 1970-01
    since = pd.Timestamp(np.datetime64(earliest, "M")).date()
    return await load_arrivals(engine, tuple(sorted(latest)), since, end.date())


async def _rescore_event_rows(engine: Engine, settings: Settings, version: str, end: date, reason: str) -> None:
    """Firms scored as of a serious event after ``end`` keep that later row as their newest
    (``server.scores.rescore``): score them there again with the model just run, so no firm is
    left showing an older run's score."""
    active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    if active is None or active["version"] != version:
        return
    from server.scores.rescore import EVENT_PREFIX, rescore_firms

    later = await ScoreHistory.select(ScoreHistory.firm).where(
        (ScoreHistory.as_of > end) & ScoreHistory.run.reason.like(f"{EVENT_PREFIX}%")).distinct()
    if later:
        await rescore_firms(engine, settings, [r["firm"] for r in later], reason)


async def _score_one_date(engine: Engine, model: Any, version: str, firms: pd.DataFrame,
                          records: pd.DataFrame | None, as_of: pd.Timestamp, reason: str,
                          min_group_size: int | None = None, rules: OverrideRuleSet | None = None,
                          status_known_on: date | None = None,
                          history: pd.DataFrame | None = None,
                          cells: pd.DataFrame | None = None,
                          dask: str | None = None, database_url: str | None = None, parts: int = 0,
                          ) -> tuple[int, RegionScores | None, tuple[pd.DataFrame, dict[str, int]] | None]:
    """Score the firms founded by ``as_of`` and write the run; ``dask``: a Dask scheduler's
    address, whose workers compute the scores (``server.scores.distributed``). ``records``
    None: the workers (without ``dask``, this process in ``parts`` parts) read their parts of
    the feature store from ``database_url``, and the third value is what they read for the
    feed health (its rows and each kind's latest month)."""
    from server.scores.distributed import live_firms

    live = live_firms(firms, as_of)
    if live.empty:
        return 0, None, None
    from server.scores.services import active_profile_on, profile_version

    profile = await active_profile_on(as_of.date())
    profile_v = profile_version(profile) if profile else None
    how = dict(profile=profile, model_version=version, overrides=rules, status_known_on=status_known_on)
    read = None
    texts = None  # the stored texts, when the parts made them
    if records is None:
        from server.scores.distributed import score_stored_in_process, score_stored_on_dask

        if not database_url or not (dask or parts > 1):
            raise ValueError("records None: the re-score reads the store in parts (a cluster's or this process's)")
        # firms tied by a shared meter in one part: no part reads another part's firms to split
        groups = await meter_groups(engine, firms["uscc"].astype(str).to_numpy())
        if dask:
            result, texts, *health = await asyncio.to_thread(score_stored_on_dask, dask, database_url, model,
                                                              firms, as_of.date(), groups, **how)
        else:
            result, texts, *health = await asyncio.to_thread(score_stored_in_process, database_url, model,
                                                              firms, as_of.date(), parts, groups, **how)
        read = (health[0], health[1])
    elif dask:
        from server.scores.distributed import score_on_dask

        known = rows_where(records, records["event_date"] <= as_of)
        result = await asyncio.to_thread(score_on_dask, dask, model, live, known, as_of.date(), history=history,
                                         cells=cells, **how)
    else:
        known = rows_where(records, records["event_date"] <= as_of)
        result = score_region(model, live, known, as_of.date(), history=history, cells=cells, **how)
    table = result.table
    override_v = None if rules is None else rules.label
    now = datetime.now(UTC)
    dimensions, reasons, confidence = run_texts(result) if texts is None else texts
    day = as_of.date()
    payload = [
        (firm, day, score, str(grade), pd_, dims, why, version, profile_v, override_v, sure, now)
        for firm, score, grade, pd_, dims, why, sure in zip(
            live["id"].astype(int).tolist(), table["score"].astype(int).tolist(), table["grade"].tolist(),
            table["pd"].astype(float).tolist(), dimensions, reasons, confidence, strict=True)
    ]
    stats = industry_stats(table, live, min_group_size)
    async with open_writer(engine) as w:  # the run and its scores land together or not at all
        run_id = await w.insert_returning_id("scoring_run", {
            "model_version": version, "weight_profile_version": profile_v,
            "override_version": override_v, "as_of": as_of.date(),
            "started_at": now, "finished_at": datetime.now(UTC), "firms": len(live), "reason": reason,
            "industry_stats": json.dumps(stats, ensure_ascii=False),
        })
        rows = [(p[0], run_id, *p[1:]) for p in payload]
        await w.copy_rows("score_history", (
            "firm", "run", "as_of", "score", "grade", "pd", "dimensions", "reasons", "model_version",
            "weight_profile_version", "override_version", "data_confidence", "created_at"), rows)
    return len(rows), result, read


async def _store_feed_health(history: pd.DataFrame, firms: pd.DataFrame, end: pd.Timestamp,
                             checked: Assessment, arrivals: pd.DataFrame | None = None) -> None:
    """Each department's coverage, lateness and disagreement with the other sources as of the
    scoring date (``scoring.authenticity.feed_health``), kept for the feed-health screen;
    ``arrivals``: the lateness from rows counted per arrival instead of ``history``'s."""
    from server.tables.risk import FEED_HEALTH, RiskSnapshot

    data = await asyncio.to_thread(feed_health, history, firms, end, checked, arrivals)
    await RiskSnapshot.insert(RiskSnapshot(kind=FEED_HEALTH, as_of=end.date(),
                                           data=json.dumps({"departments": data}),
                                           created_at=datetime.now(UTC)))




def industry_stats(table: pd.DataFrame, firms: pd.DataFrame,
                   min_group_size: int | None = None) -> dict[str, dict[str, Any]]:
    """Per industry division ("C:34"), section ("C") and the whole region ("all"): firm
    count, mean score, the score at each percentile 0..100 and the mean of each dimension.

    Stored with the run so that one firm's evaluation (or a firm re-scored alone after an
    objection) is placed in its industry without reading the whole run again. Every group is
    kept with its count, so the reader chooses which group may be shown (``server.privacy``)
    with the K in force; ``min_group_size`` records the K of the run, which readers never go
    below.
    """
    dims = [c for c in table.columns if c.startswith("dim_")]
    frame = table[["score", *dims]].copy()
    frame["region"] = STATS_REGION_KEY
    frame["section"] = firms["industry_section"].to_numpy()
    frame["division"] = firms["industry_section"].to_numpy() + ":" + firms["industry_division"].to_numpy()
    out: dict[str, dict[str, Any]] = {}
    for key in ("region", "section", "division"):
        for name, g in frame.groupby(key, sort=True):
            scores = g["score"].to_numpy(dtype=float)
            out[str(name)] = {
                "level": key,
                "firms": int(len(g)),
                "mean_score": round(float(scores.mean()), 1),
                "score_quantiles": [round(float(q), 1) for q in np.percentile(scores, np.arange(101))],
                "dimensions": {d[4:]: round(float(g[d].mean()), 1) for d in dims},
            }
    if min_group_size is not None:
        out[STATS_META_KEY] = {"min_group_size": int(min_group_size)}
    return out


async def ensure_model_and_scores(engine: Engine, settings: Settings, as_of: date | None = None) -> str:
    """Train when no model is active, score when nothing is scored: what the demo needs."""
    active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    if active is not None:
        try:
            _registry(settings).load(active["version"])
            version = active["version"]
        except Exception as exc:  # artifact gone or from another sklearn: retrain
            log.warning("active model unusable (%s); retraining", exc)
            version = await train_platform_model(settings, as_of, engine)
    else:
        version = await train_platform_model(settings, as_of, engine)
    if not await ScoringRun.exists().where(ScoringRun.model_version == version):
        await score_platform(settings, as_of, version, engine, history_months=HISTORY_MONTHS)
    return version
