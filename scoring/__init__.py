"""Xinbao's scoring engine: indicators, an additive explainable scorecard, grades, reasons,
dimensions, weight profiles, a signed model registry and stability monitoring.

A pure library: plain data (pandas/numpy) in, results out; it never imports ``server``.
"""

from __future__ import annotations

from .explain import Reason, dimension_label, industry_comparison, reason_table, reasons_for
from .features import (
    compute_features,
    credit_exposed,
    default_labels,
    defaulted_by,
    first_default_dates,
)
from .grades import GRADES, STANDARD_BANDS, STANDARD_SCALE, WEIHAI_SHARES, GradeBands, ScoreScale
from .indicators import DIMENSIONS, INDICATORS, Dimension, Indicator, indicator_codes
from .monitoring import (
    bad_rate_by_grade,
    grade_migration,
    ks_statistic,
    metrics,
    psi,
    stability_report,
)
from .pipeline import (
    RegionScores,
    indicator_scorecard,
    region_dataset,
    register_region_model,
    score_region,
    train_region,
)
from .registry import ArtifactError, ModelRegistry, RegisteredModel, data_hash
from .scorecard import FeatureBins, ScoreBatch, Scorecard
from .weights import Adjustment, AuditEntry, WeightProfile, active_profile

__all__ = [
    "DIMENSIONS",
    "GRADES",
    "INDICATORS",
    "STANDARD_BANDS",
    "STANDARD_SCALE",
    "WEIHAI_SHARES",
    "Adjustment",
    "ArtifactError",
    "AuditEntry",
    "Dimension",
    "FeatureBins",
    "GradeBands",
    "Indicator",
    "ModelRegistry",
    "Reason",
    "RegionScores",
    "RegisteredModel",
    "ScoreBatch",
    "ScoreScale",
    "Scorecard",
    "WeightProfile",
    "active_profile",
    "bad_rate_by_grade",
    "compute_features",
    "credit_exposed",
    "data_hash",
    "default_labels",
    "defaulted_by",
    "dimension_label",
    "first_default_dates",
    "grade_migration",
    "indicator_codes",
    "indicator_scorecard",
    "industry_comparison",
    "ks_statistic",
    "metrics",
    "psi",
    "reason_table",
    "reasons_for",
    "region_dataset",
    "register_region_model",
    "score_region",
    "stability_report",
    "train_region",
]
