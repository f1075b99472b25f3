"""Model versions for admins: the list, and promoting a version that waits for confirmation.

Training activates a new version by itself unless it would move more than
``Settings.grade_change_confirm_share`` of the firms to another grade than the active model
(``server.scores.pipeline.train_platform_model``); such a version waits until an admin
promotes it here, saying ``confirm: true``. Promotion is atomic (``activate_model``) and
re-scores the region with the promoted model after the answer is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar.exceptions import ClientException, NotFoundException

from scoring import ArtifactError, GradeBands, ModelRegistry, ScoreScale
from server import db
from server.audit.services import Actor, change, record
from server.scores.pipeline import activate_model, score_platform
from server.scores.schemas import ModelVersionOut
from server.settings import Settings
from server.tables.scores import ModelVersion
from server.texts import t

__all__ = ["list_models", "promote_model", "rescore_with"]

log = logging.getLogger("xinbao.scores")


def _out(row: dict[str, Any], **extra: Any) -> ModelVersionOut:
    config = row["config"] or {}
    scale, bands = config.get("score_scale") or {}, config.get("pd_bands") or {}
    minimum: dict[str, int] = {}
    if scale and bands.get("upper"):
        minimum = GradeBands.from_dict(bands).min_scores(ScoreScale(**scale))
    return ModelVersionOut(
        version=row["version"], created_at=row["created_at"], active=bool(row["active"]),
        awaiting_confirmation=bool(row["awaiting_confirmation"]), metrics=row["metrics"] or {},
        grade_changes=row["grade_changes"] or {}, score_scale=scale, pd_bands=bands,
        grade_min_scores=minimum, promoted_by=row["promoted_by"], promoted_at=row["promoted_at"], **extra)


async def list_models() -> list[ModelVersionOut]:
    """Every model version, newest first."""
    rows = await ModelVersion.select().order_by(ModelVersion.created_at, ascending=False).output(load_json=True)
    return [_out(r) for r in rows]


async def promote_model(version: str, confirm: bool, settings: Settings,
                        promoted_by: int | None, actor: Actor | None = None) -> ModelVersionOut:
    """Make ``version`` the active model (``promoted_by``: the admin's user id; None from the
    CLI). A version that moves more than the configured share of firms to another grade needs
    ``confirm``; promoting the active one changes nothing."""
    row = await ModelVersion.select().where(ModelVersion.version == version).output(load_json=True).first()
    if row is None:
        raise NotFoundException(t("version: no model version {version!r}", version=version))
    if row["active"]:
        return _out(row)
    changes = row["grade_changes"] or {}
    share = float(changes.get("share", 0.0))
    if share > settings.grade_change_confirm_share and not confirm:
        raise ClientException(t(
            "confirm: {version} gives {changed} of {firms} firms ({share:.1%}) another grade than {against}; "
            "over the {limit:.1%} that needs no confirmation. Send confirm: true to promote it",
            version=version, changed=changes.get("changed"), firms=changes.get("firms"), share=share,
            against=changes.get("against"), limit=settings.grade_change_confirm_share), status_code=409)
    try:
        ModelRegistry(settings.model_dir).load(version)
    except ArtifactError as exc:
        raise ClientException(t("version: {version}'s model file cannot be used ({error})", version=version,
                                 error=str(exc)), status_code=409) from exc
    before = await ModelVersion.select(ModelVersion.version).where(ModelVersion.active == True).first()  # noqa: E712
    async with db.write_transaction():  # the promotion and its audit row (an admin's; the CLI's has none)
        await activate_model(version, promoted_by=promoted_by)
        if actor is not None:
            await record(actor, "model.promote", version, {
                "active": change(before["version"] if before else None, version), "confirm": confirm,
                "grade_change_share": share})
    row = await ModelVersion.select().where(ModelVersion.version == version).output(load_json=True).first()
    return _out(row, rescoring=True)


async def rescore_with(settings: Settings, version: str, engine: Any) -> None:
    """Score the region with a just-promoted model (after the answer; a failure is logged and
    the nightly run catches up)."""
    try:
        await score_platform(settings, None, version, engine, reason="promotion")
    except Exception:  # noqa: BLE001 - the promotion stands; the nightly scoring retries
        log.exception("re-scoring with promoted model %s failed", version)
