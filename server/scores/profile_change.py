"""A weight profile's effect (issue 18: crisis re-weighting): a preview of which firms would
change grade before it is stored, and, once stored, applying it at once and telling the owners
of the firms it moves.

The region of the latest whole-region run is scored twice with the active model, the same
records and the same hard rules: once with the profile in force that day, and once with the
profile that would be in force once the proposal is stored (from the day it starts: one
profile applies at a time, the one starting last, so a proposal may be outranked and change
nothing; ``in_force_version`` says which). Nothing is stored.

A stored profile in force on the latest scoring date re-scores the region on that date right
after the admin's request (``apply_profile``), and every owner whose firm changes grade is
told why (the profile's reason) in the inbox and on the live stream.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from litestar.exceptions import ClientException
from piccolo.engine.base import Engine

from scoring import ModelRegistry, active_profile, score_region
from scoring.features import compute_features
from scoring.grades import GRADES
from scoring.monitoring import grade_migration
from server.scores.frames import load_firms, load_scoring_inputs
from server.scores.health import WHOLE_REGION
from server.scores.schemas import MovedFirm, ProfilePreview, WeightProfileCreate
from server.scores.services import (
    active_override_rules,
    active_profile_on,
    all_profiles,
    build_profile,
    latest_profiles,
    profile_version,
)
from server.settings import Settings
from server.tables.scores import ModelVersion, ScoreHistory, ScoringRun
from server.texts import t
from server.users.security import AuthUser

__all__ = ["MAX_LISTED", "apply_profile", "in_force_on_latest", "preview_profile"]

log = logging.getLogger("xinbao.scores")

MAX_LISTED = 50  # firms listed by name in a preview


async def preview_profile(engine: Engine, settings: Settings, user: AuthUser,
                          data: WeightProfileCreate) -> ProfilePreview:
    """Grades of every firm with the profiles in force on the latest scoring date, and with
    ``data`` as well (as the next version of its name); 409 before the first scoring run."""
    proposed = await build_profile(user, data, datetime.now(UTC))
    active = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    run = await _latest_whole_run()
    if active is None or run is None:
        raise ClientException(t("no scored region yet: train and score before previewing a profile"),
                              status_code=409)
    day = run["as_of"]
    model = ModelRegistry(settings.model_dir).load(active["version"]).model
    firms = await load_firms(engine)
    live = firms[pd.to_datetime(firms["founded_on"]) <= pd.Timestamp(day)].reset_index(drop=True)
    cells, records = await load_scoring_inputs(engine, as_of=day)  # the feature store
    features = compute_features(records, pd.Timestamp(day), firms=live, cells=cells)  # once, for both
    rules = await active_override_rules()
    current = await active_profile_on(day)
    # What would be in force once stored, from the day it starts (or the scoring date): one
    # profile applies at a time (the one starting last), so the proposal may not be it.
    stored = await latest_profiles()
    stored[proposed.name] = proposed
    in_force = active_profile(stored.values(), max(day, proposed.valid_from))
    tables = [score_region(model, live, records, day, profile=p, overrides=rules, status_known_on=day,
                           features=features, cells=cells).table for p in (current, in_force)]
    before, after = (t["grade"].to_numpy(dtype=object) for t in tables)
    s_before, s_after = (t["score"].to_numpy(dtype=int) for t in tables)
    moves = grade_migration(before, after)
    rank = {g: i for i, g in enumerate(GRADES)}
    step = np.array([rank[b] - rank[a] for a, b in zip(before, after, strict=True)])  # > 0: worse
    order = np.argsort(-np.abs(s_after - s_before), kind="stable")
    moved = [MovedFirm(uscc=str(live["uscc"].iat[i]), name=str(live["name"].iat[i]), grade_from=str(before[i]),
                       grade_to=str(after[i]), score_from=int(s_before[i]), score_to=int(s_after[i]))
             for i in order if before[i] != after[i]][:MAX_LISTED]
    return ProfilePreview(
        as_of=day, profile_version=profile_version(proposed),
        current_profile_version=profile_version(current) if current else None,
        in_force_version=profile_version(in_force) if in_force else None,
        firms=int(moves["firms"]), changed=int(moves["changed"]), share=round(float(moves["share"]), 4),
        up=int((step < 0).sum()), down=int((step > 0).sum()), moved_two_or_more=int(moves["moved_two_or_more"]),
        mean_score_change=round(float(np.mean(s_after - s_before)) if len(live) else 0.0, 2),
        matrix=moves["matrix"], moved=moved)  # type: ignore[arg-type]


async def _latest_whole_run() -> dict | None:
    return await ScoringRun.select(ScoringRun.id, ScoringRun.as_of).where(
        ScoringRun.reason.is_in(list(WHOLE_REGION))).order_by(ScoringRun.as_of, ascending=False).order_by(
        ScoringRun.id, ascending=False).first()


async def in_force_on_latest(version: str, run: dict | None = None) -> bool:
    """Whether the stored profile ``version`` is the one in force on the latest scoring date (so
    the region's current scores must be re-scored with it now, not at the next month end);
    ``run``: the latest whole-region run when already read."""
    run = run or await _latest_whole_run()
    if run is None:
        return False
    current = await active_profile_on(run["as_of"])
    return current is not None and profile_version(current) == version


async def apply_profile(settings: Settings, engine: Engine, version: str) -> int:
    """Re-score the region on the latest scoring date with the profile just stored (when it is
    the one in force that day) and tell the owners of every firm whose grade it changes, with
    the profile's reason. Returns the number of firms whose grade changed. Run after the answer;
    a failure is logged and the next whole-region run applies the profile."""
    from server.notifications.owners import grade_changed_by_profile
    from server.scores.pipeline import score_platform

    try:
        run = await _latest_whole_run()
        if run is None or not await in_force_on_latest(version, run):
            return 0
        before = await _grades(run["id"])
        await score_platform(settings, run["as_of"], engine=engine, reason="profile")
        after_run = await _latest_whole_run()
        after = await _grades(after_run["id"]) if after_run else {}
        profile = next(p for p in await all_profiles() if profile_version(p) == version)
        changed = [(f, before[f], g) for f, g in after.items() if f in before and before[f] != g]
        for firm_id, old, new in changed:
            await grade_changed_by_profile(firm_id, old, new, version, profile.reason)
        log.info("profile %s applied on %s: %d firm(s) changed grade", version, run["as_of"], len(changed))
        return len(changed)
    except Exception:  # noqa: BLE001 - the profile stands; the next whole-region run applies it
        log.exception("applying weight profile %s failed", version)
        return 0


async def _grades(run_id: int) -> dict[int, str]:
    rows = await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.grade).where(ScoreHistory.run == run_id)
    return {r["firm"]: r["grade"] for r in rows}
