"""Model versions, weight profiles, override rule sets, scoring runs and the score history."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigSerial,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm


class ModelVersion(Table, tablename="model_version"):
    """A trained scoring model known to the registry.

    Exactly one version is active (scoring uses it). A new version is activated when trained
    unless it would move more than the configured share of firms to another grade against the
    active one (``grade_changes``); then it waits (``awaiting_confirmation``) until an admin
    promotes it (``promoted_by``, ``promoted_at``).
    """

    version = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    metrics = JSON(default={})
    config = JSON(default={})
    active = Boolean(default=False)
    grade_changes = JSON(default={})
    awaiting_confirmation = Boolean(default=False)
    promoted_by = Integer(null=True, default=None)
    promoted_at = Timestamptz(null=True, default=None)


class WeightProfile(Table, tablename="weight_profile"):
    """An admin's damping or boosting of indicators, versioned and audited."""

    version = Varchar(length=64, unique=True)
    name = Varchar(length=100)
    reason = Text()
    rules = JSON(default={})
    valid_from = Date()
    valid_to = Date(null=True, default=None)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()
    active = Boolean(default=False)


class OverrideRuleSet(Table, tablename="override_rule_set"):
    """A version of the hard-override rules (``scoring.overrides``), audited: the newest version
    is the one scoring applies; ``rules`` holds the whole set with its history."""

    version = Varchar(length=64, unique=True)
    name = Varchar(length=100)
    reason = Text()
    rules = JSON(default={})
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz()


#: ``ScoringRun.industry_stats`` keys: the whole region's entry (the widest group an
#: evaluation falls back to) and the statistics' own facts (the K of the run), not a group.
STATS_REGION_KEY = "all"
STATS_META_KEY = "_meta"


class ScoringRun(Table, tablename="scoring_run"):
    """One pass of the model over firms, as of a date."""

    model_version = Varchar(length=64)
    weight_profile_version = Varchar(length=64, null=True, default=None)
    override_version = Varchar(length=64, null=True, default=None)
    as_of = Date()
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    firms = Integer(default=0)
    reason = Varchar(length=30, default="full")
    # Per industry division, section and the whole region: firm count, score percentiles
    # (0..100) and dimension means, so an evaluation can place a firm in its industry without
    # reading the whole run. Only groups server.privacy allows are ever shown.
    industry_stats = JSON(default={})


class ScoreHistory(Table, tablename="score_history"):
    """One row per firm per scoring run (history, never updated in place)."""

    id = BigSerial(primary_key=True)
    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade)
    run = ForeignKey(references=ScoringRun, on_delete=OnDelete.cascade)
    as_of = Date()
    score = Integer()
    grade = Varchar(length=1)
    pd = DoublePrecision()
    dimensions = JSON(default={})
    reasons = JSON(default=[])
    model_version = Varchar(length=64)
    weight_profile_version = Varchar(length=64, null=True, default=None)
    # The override rule set applied (``overrides@v<n>``); None for rows scored before overrides.
    override_version = Varchar(length=64, null=True, default=None)
    # Share of the coverage feeds reporting on the firm, its level, the feeds counted and the
    # missing ones ({} for rows scored before it was stored); it never enters the score.
    data_confidence = JSON(default={})
    created_at = Timestamptz()
