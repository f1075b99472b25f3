"""Structs of the weight-profile, override-rule and model-version routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

__all__ = ["AdjustmentIn", "ModelHealthOut", "ModelPromote", "ModelTrain", "TrainingOut", "ModelVersionOut", "OverrideRuleIn", "OverrideRuleSetOut",
           "OverrideRuleSetRevise", "WeightProfileCreate", "WeightProfileOut"]


class AdjustmentIn(msgspec.Struct):
    target: Annotated[str, msgspec.Meta(min_length=1, max_length=60, examples=["kind:tax_monthly"],
                                        description="an indicator code, dimension:<code> or kind:<record kind>")]
    factor: Annotated[float, msgspec.Meta(ge=0.0, le=3.0, examples=[0.5])]


class WeightProfileCreate(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=60, examples=["疫情复工期税收指标减半"])]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500,
                                        examples=["firms' restart delayed by the epidemic"])]
    adjustments: Annotated[list[AdjustmentIn], msgspec.Meta(min_length=1, max_length=66)]
    valid_from: date
    valid_to: date | None = None


class WeightProfileOut(msgspec.Struct):
    version: str
    name: str
    reason: str
    adjustments: list[AdjustmentIn]
    valid_from: date
    valid_to: date | None
    created_at: datetime
    history: list[dict]
    # In force on the latest scoring date: the region is re-scored with it after the answer and
    # the owners of firms changing grade are told.
    rescoring: bool = False


class MovedFirm(msgspec.Struct):
    uscc: str
    name: str
    grade_from: str
    grade_to: str
    score_from: int
    score_to: int


class ProfilePreview(msgspec.Struct):
    """Who a weight profile would move if it were in force on the latest scoring date: the same
    model, records and hard rules, scored with the profiles in force now and with this one."""

    as_of: date
    profile_version: str  # the version the profile would be stored as
    current_profile_version: str | None  # the profile in force on ``as_of`` now (None: none)
    in_force_version: str | None  # the profile in force once this one is stored (another may outrank it)
    firms: int
    changed: int
    share: float
    up: int  # to a better grade
    down: int  # to a worse grade
    moved_two_or_more: int
    mean_score_change: float
    matrix: dict[str, dict[str, int]]  # {from: {to: firms}}
    moved: list[MovedFirm]  # the firms that change grade, the largest score changes first (at most 50)


class OverrideRuleIn(msgspec.Struct):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=40, examples=["bank_default"],
                                      description="bank_default, dishonest_debtor or registry_status")]
    enabled: bool = True
    min_days: Annotated[int, msgspec.Meta(examples=[90], description="bank_default only: days "
                                          "overdue from which a loan is in default")] | None = None
    statuses: Annotated[list[str], msgspec.Meta(max_length=3, examples=[["revoked", "cancelled"]],
                                                description="registry_status only")] | None = None


class OverrideRuleSetRevise(msgspec.Struct):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500,
                                        examples=["bank regulator: default from 60 days"])]
    rules: Annotated[list[OverrideRuleIn], msgspec.Meta(min_length=1, max_length=10)]


class OverrideRuleSetOut(msgspec.Struct):
    version: str
    name: str
    reason: str
    rules: list[OverrideRuleIn]
    created_at: datetime
    history: list[dict]


class ModelVersionOut(msgspec.Struct):
    """A model version: whether it is active or waits for an admin, how many firms it moves to
    another grade against the model that was active when it was trained, and the fixed scale."""

    version: str
    created_at: datetime
    active: bool
    awaiting_confirmation: bool
    metrics: dict
    grade_changes: Annotated[dict, msgspec.Meta(description=(
        "against (version), as_of, firms, changed, share, moved_two_or_more, matrix {from: {to: firms}}; "
        "empty for the first model"))]
    score_scale: dict
    pd_bands: dict
    grade_min_scores: Annotated[dict[str, int], msgspec.Meta(description="lowest score of each grade")]
    promoted_by: int | None = None
    promoted_at: datetime | None = None
    rescoring: bool = False


class ModelPromote(msgspec.Struct, forbid_unknown_fields=True):
    confirm: Annotated[bool, msgspec.Meta(description=(
        "must be true when the version moves more than the configured share of firms to another grade"),
        examples=[True])] = False


class ModelTrain(msgspec.Struct, forbid_unknown_fields=True):
    review: Annotated[bool, msgspec.Meta(description=(
        "true (default): the new version waits for an admin to promote it, whatever it changes; false: "
        "it activates itself unless it moves more than the configured share of firms to another grade"),
        examples=[True])] = True
    as_of: Annotated[date | None, msgspec.Meta(description="train as of this date (default: the data's last month)",
                                               examples=["2026-11-30"])] = None


class TrainingOut(msgspec.Struct):
    """The latest training run: idle (none yet), running, done (``version``: what it made) or
    failed (``error``: why)."""

    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    version: str | None = None
    requested_by: int | None = None  # the admin's user id


class ModelHealthOut(msgspec.Struct):
    """A model-health check: per matured scoring date (``periods``): firms, defaults, AUC, KS,
    Brier, expected and observed defaults, bad rate by grade, alerts; the latest run's
    population stability (``drift``); every figure outside its band (``alerts``)."""

    checked_at: str
    data_end: str
    horizon_months: int
    active_model: str | None
    bands: dict
    periods: list[dict]
    drift: dict | None
    alerts: list[dict]
