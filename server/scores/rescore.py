"""Re-scoring a few firms at once (after an objection's correction), without a full run.

A firm's indicators depend on its own records only, so scoring it alone with the active model
gives the score the next full run would give. The new scores are written as a scoring run of
their own (``reason`` says why) at the latest scoring date, so the evaluation, which shows a
firm's newest row of its latest date, shows them at once. Superseded records are excluded by
``load_records``, as in every scoring path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
from piccolo.engine.base import Engine

from scoring import ModelRegistry, score_region
from scoring.records import FIRM_COLUMNS
from server import db
from server.firms.tables import Firm
from server.scores.frames import load_records
from server.scores.pipeline import data_confidence_dict, reason_dicts
from server.scores.services import active_override_rules, active_profile_on, profile_version
from server.scores.tables import ModelVersion, ScoreHistory, ScoringRun
from server.settings import Settings

__all__ = ["RescoreResult", "rescore_firms"]

log = logging.getLogger("xinbao.scores")

_INSERT_CHUNK = 500  # score rows per INSERT (parameter limits of both engines)


@dataclass(slots=True)
class RescoreResult:
    """One re-scoring run: which model and date, and each firm's new score and grade."""

    run_id: int
    model_version: str
    weight_profile_version: str | None
    as_of: date
    override_version: str | None = None
    scores: dict[int, tuple[int, str]] = field(default_factory=dict)


async def _firms_frame(firm_ids: list[int]) -> pd.DataFrame:
    """The firms in ``FIRM_COLUMNS`` form plus ``id``, typed as ``load_firms`` types them."""
    cols = [Firm.id, *(getattr(Firm, c) for c in FIRM_COLUMNS)]
    rows = await Firm.select(*cols).where(Firm.id.is_in(firm_ids)).order_by(Firm.id)
    df = pd.DataFrame(rows, columns=["id", *FIRM_COLUMNS])
    df["founded_on"] = pd.to_datetime(df["founded_on"], errors="coerce")
    df["registered_capital_fen"] = pd.array(df["registered_capital_fen"], dtype="Int64")
    return df


async def rescore_firms(engine: Engine, settings: Settings, firm_ids: list[int],
                        reason: str) -> RescoreResult | None:
    """Score just these firms with the active model as of the latest scoring date.

    Returns None when there is nothing to re-score yet (no active model, no scoring run, or
    none of the firms existed by then): the first full run will include the change.
    """
    ids = sorted(set(firm_ids))
    active = await ModelVersion.select(ModelVersion.version).where(
        ModelVersion.active == True).first()  # noqa: E712
    latest = await ScoringRun.select(ScoringRun.as_of).order_by(
        ScoringRun.as_of, ascending=False).first()
    if not ids or active is None or latest is None:
        return None
    version: str = active["version"]
    as_of: date = latest["as_of"]
    started = datetime.now(UTC)
    model = ModelRegistry(settings.model_dir).load(version).model
    firms = await _firms_frame(ids)
    firms = firms[firms["founded_on"].isna() | (firms["founded_on"] <= pd.Timestamp(as_of))]
    if firms.empty:
        return None
    firms = firms.reset_index(drop=True)
    records = await load_records(engine, as_of=as_of, usccs=firms["uscc"].tolist())
    profile = await active_profile_on(as_of)
    profile_v = profile_version(profile) if profile else None
    rules = await active_override_rules()
    # as_of is the latest scoring date, so today's registry status applies (status_known_on).
    result = score_region(model, firms, records, as_of, profile=profile, model_version=version,
                          overrides=rules, status_known_on=as_of)
    table = result.table
    dims = [c for c in table.columns if c.startswith("dim_")]

    now = datetime.now(UTC)
    out = RescoreResult(run_id=0, model_version=version, weight_profile_version=profile_v,
                        as_of=as_of, override_version=rules.label)
    rows: list[ScoreHistory] = []
    async with db.write_transaction():  # the run and its scores land together or not at all
        run = ScoringRun(model_version=version, weight_profile_version=profile_v,
                         override_version=rules.label, as_of=as_of,
                         started_at=started, finished_at=now, firms=len(firms), reason=reason[:30])
        await run.save()
        for i, firm_id in enumerate(firms["id"].tolist()):
            score, grade = int(table["score"].iloc[i]), str(table["grade"].iloc[i])
            reasons = reason_dicts(result, i)
            rows.append(ScoreHistory(
                firm=int(firm_id), run=run.id, as_of=as_of, score=score, grade=grade,
                pd=float(table["pd"].iloc[i]),
                dimensions=json.dumps({d[4:]: round(float(table[d].iloc[i]), 1) for d in dims}),
                reasons=json.dumps(reasons, ensure_ascii=False), model_version=version,
                weight_profile_version=profile_v, override_version=rules.label,
                data_confidence=json.dumps(data_confidence_dict(result, i)), created_at=now,
            ))
            out.scores[int(firm_id)] = (score, grade)
        for start in range(0, len(rows), _INSERT_CHUNK):
            await ScoreHistory.insert(*rows[start:start + _INSERT_CHUNK])
    out.run_id = int(run.id)
    log.info("re-scored %d firm(s) as of %s (%s): %s", len(rows), as_of, reason, out.scores)
    return out
