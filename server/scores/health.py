"""Model health (issue 11, "what to build" 6): how the scores performed once outcomes matured.

For every scoring date whose 12-month horizon has passed by the data's end, the stored PDs
and grades of the whole-region run of that date are set against what happened (a first
default within the horizon, ``scoring.features.default_labels``) for the firms that owed a bank
during the horizon (the model's development population; the others could not default):
AUC and KS, defaults
expected (PDs summed) against observed, the bad rate by grade (``scoring.monitoring.
period_health``). The population stability of the latest run against the active model's
training sample (``check_drift``) is added. Figures outside ``scoring.monitoring.
HEALTH_BANDS`` are listed as alerts and logged as warnings. Each check is stored as a
``model_health`` risk snapshot of the data's end date (a re-check replaces it), for admins
(``GET /api/models/health``) and the weekly ``model_health`` job.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from piccolo.engine.base import Engine

from scoring import ModelRegistry
from scoring.features import compute_features, credit_exposed, default_labels
from scoring.monitoring import HEALTH_BANDS, period_health, stability_report
from scoring.records import FIRM_COLUMNS
from server import db
from server.audit.services import Actor, record
from server.scores.frames import load_firms, load_row_kinds, load_scoring_inputs
from server.scores.pipeline import HORIZON_MONTHS, stored_data_end
from server.settings import Settings
from server.tables.risk import RiskSnapshot
from server.tables.scores import ModelVersion, ScoreHistory, ScoringRun

__all__ = ["SNAPSHOT_KIND", "check_drift", "check_model_health", "latest_model_health"]

log = logging.getLogger("xinbao.scores")

SNAPSHOT_KIND = "model_health"
#: Runs that score the whole region (re-scores of a few firms are left out).
WHOLE_REGION = ("full", "nightly", "promotion", "profile")


async def _matured_runs(end: pd.Timestamp) -> list[dict[str, Any]]:
    """The last whole-region run of each scoring date whose horizon has passed by ``end``."""
    runs = await ScoringRun.select(ScoringRun.id, ScoringRun.as_of, ScoringRun.model_version).where(
        ScoringRun.reason.is_in(list(WHOLE_REGION))).order_by(ScoringRun.as_of).order_by(ScoringRun.id)
    last = {r["as_of"]: r for r in runs}  # ordered by id: the last run of each date wins
    return [r for d, r in sorted(last.items())
            if pd.Timestamp(d) + pd.DateOffset(months=HORIZON_MONTHS) <= end]


async def check_model_health(engine: Engine, settings: Settings,
                             actor: Actor | None = None) -> dict[str, Any] | None:
    """Check, store and return the model's health; None before any department data. Asked by an
    admin (``actor``), the stored check is audited as ``model.health``; the nightly job's is not."""
    try:
        end = await stored_data_end(engine)
    except RuntimeError:  # no department data yet
        return None
    # the labels read the bank-loan reports, which the feature store leaves as rows
    records = await load_row_kinds(engine)
    frames = []
    for run in await _matured_runs(end):
        rows = await ScoreHistory.select(ScoreHistory.firm.uscc.as_alias("uscc"), ScoreHistory.pd,
                                         ScoreHistory.grade).where(ScoreHistory.run == run["id"])
        if not rows:
            continue
        scored = pd.DataFrame(rows).drop_duplicates("uscc", keep="last").set_index("uscc")
        # Firms already in default on the scoring date are not predictions: left out; so are
        # firms owing no bank during the horizon, which could not default (the model's PD for
        # them is the PD they would have had as applicants: the development population's rule).
        labels = default_labels(records, run["as_of"], HORIZON_MONTHS, firms=pd.Index(scored.index))
        labels = labels[credit_exposed(records, run["as_of"], HORIZON_MONTHS,
                                       firms=labels.index).to_numpy()]
        frame = scored.join(labels.rename("bad"), how="inner").reset_index()
        frames.append(frame.assign(as_of=run["as_of"], model_version=run["model_version"]))
    periods = period_health(pd.concat(frames, ignore_index=True)) if frames else []
    versions = {str(f["as_of"].iat[0]): str(f["model_version"].iat[0]) for f in frames}
    for p in periods:
        p["model_version"] = versions.get(p["as_of"])
    drift = await check_drift(engine, settings)
    alerts = [{"as_of": p["as_of"], **a} for p in periods for a in p["alerts"]]
    psi_band = HEALTH_BANDS["psi_score"]
    if drift is not None and psi_band[1] is not None and drift["psi_score"] > psi_band[1]:
        alerts.append({"as_of": drift["as_of"], "figure": "psi_score", "value": drift["psi_score"],
                       "band": list(psi_band)})
    active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    data = {
        "checked_at": datetime.now(UTC).isoformat(), "data_end": str(end.date()),
        "horizon_months": HORIZON_MONTHS, "active_model": active["version"] if active else None,
        "bands": {k: list(v) for k, v in HEALTH_BANDS.items()}, "periods": periods,
        "drift": None if drift is None else {
            "as_of": drift["as_of"], "psi_score": drift["psi_score"], "status": drift["status"],
            "shifted": [v["variable"] for v in drift["variables"] if v["status"] == "shifted"]},
        "alerts": alerts,
    }
    async with db.write_transaction():
        await RiskSnapshot.delete().where((RiskSnapshot.kind == SNAPSHOT_KIND) & (RiskSnapshot.as_of == end.date()))
        await RiskSnapshot.insert(RiskSnapshot(kind=SNAPSHOT_KIND, as_of=end.date(),
                                               data=json.dumps(data, ensure_ascii=False, default=str),
                                               created_at=datetime.now(UTC)))
        if actor is not None:
            await record(actor, "model.health", data["active_model"] or "", {
                "data_end": data["data_end"], "periods": len(periods), "alerts": len(alerts),
                "drift": None if drift is None else drift["status"]})
    if alerts:
        log.warning("model health: %d figure(s) outside their band: %s", len(alerts), alerts)
    else:
        log.info("model health: %d matured period(s), every figure within its band", len(periods))
    return data


async def latest_model_health() -> dict[str, Any] | None:
    """The newest stored check, None if there is none."""
    row = await RiskSnapshot.select(RiskSnapshot.data).where(RiskSnapshot.kind == SNAPSHOT_KIND).order_by(
        RiskSnapshot.as_of, ascending=False).order_by(RiskSnapshot.id, ascending=False).output(load_json=True).first()
    return None if row is None else row["data"]


async def check_drift(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    """Population stability (PSI) of the latest whole-region scoring run against the active
    model's training sample, for the score and each indicator; stored as the run's ``drift``
    snapshot (replacing an earlier check of the same run) and logged. None when there is no
    active model or run yet."""
    active = await ModelVersion.select(ModelVersion.version).where(
        ModelVersion.active == True).first()  # noqa: E712
    if active is None:
        return None
    run = await ScoringRun.select(ScoringRun.id, ScoringRun.as_of).where(
        (ScoringRun.model_version == active["version"])
        & ScoringRun.reason.is_in(["full", "nightly", "promotion"])).order_by(
        ScoringRun.as_of, ascending=False).order_by(ScoringRun.id, ascending=False).first()
    if run is None:
        return None
    model = ModelRegistry(settings.model_dir).load(active["version"]).model
    scores = await ScoreHistory.select(ScoreHistory.firm.uscc.as_alias("uscc"),
                                       ScoreHistory.score).where(ScoreHistory.run == run["id"])
    if not scores:
        return None
    firms = await load_firms(engine)
    firms = firms[firms["uscc"].isin({s["uscc"] for s in scores})].reset_index(drop=True)
    cells, records = await load_scoring_inputs(engine, run["as_of"])  # the feature store
    X = compute_features(records, pd.Timestamp(run["as_of"]), firms[list(FIRM_COLUMNS)], cells=cells)
    report = stability_report(model, X, np.array([s["score"] for s in scores], dtype=float))
    head = report.iloc[0]
    data = {"model_version": active["version"], "run_id": run["id"],
            "as_of": run["as_of"].isoformat(), "firms": len(scores),
            "psi_score": round(float(head["psi"]), 6), "status": str(head["status"]),
            "variables": [{"variable": str(r.variable), "psi": round(float(r.psi), 6),
                           "status": str(r.status)} for r in report.iloc[1:].itertuples()]}
    shifted = [v["variable"] for v in data["variables"] if v["status"] == "shifted"]
    async with db.write_transaction():
        await RiskSnapshot.delete().where((RiskSnapshot.kind == "drift")
                                          & (RiskSnapshot.as_of == run["as_of"]))
        await RiskSnapshot.insert(RiskSnapshot(kind="drift", as_of=run["as_of"],
                                               data=json.dumps(data, ensure_ascii=False, sort_keys=True, default=str), created_at=datetime.now(UTC)))
    log.info("drift of run %s (%s, %s): score PSI %.4f (%s); shifted indicators: %s",
             run["id"], run["as_of"], active["version"], data["psi_score"], data["status"],
             shifted or "none")
    return data
