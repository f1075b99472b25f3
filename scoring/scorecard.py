"""The additive scorecard: binned features, bagged one-feature boosting, exact points.

Why this design: a gradient-boosted model whose every tree reads a single feature
(``interaction_cst``) is a generalised additive model, so ``logit = intercept + sum_j f_j(x_j)``
holds exactly. Features are first cut into at most ``n_bins`` quantile bins (plus one bin for
missing values), so each ``f_j`` is a small table; averaging the fits of a k-fold committee
keeps it additive while smoothing the tables, and because the fits share most of their rows a
new random seed barely moves a score. The trees are stumps (one split each) boosted for many
rounds with a small, L2-damped step, which measured best on the public benchmarks (German
credit, Polish bankruptcy; ``benchmarks/model_quality.py``): level with or above InterpretML's
EBM and the binned-WOE scorecard libraries. Monotone constraints come from indicator directions.
The tables, a Platt calibration fitted on each row's held-out prediction and a
points-to-double-odds scale give integer points per feature that add up to the score exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .grades import SCORE_MAX, SCORE_MIN, STANDARD_BANDS, STANDARD_SCALE, GradeBands, ScoreScale

__all__ = ["MISSING_POINTS", "FeatureBins", "ScoreBatch", "Scorecard", "ValueRow", "bag_rows", "confidence_level",
           "confidence_level_of"]

_MAX_CATEGORIES = 250  # HistGradientBoosting accepts at most 255 categories per feature

#: How far a missing value's points are capped: at the median bin's points ("median", never
#: better than a typical firm) or at the worst bin's points ("worst", so that hiding data can
#: never raise a score).
MISSING_POINTS = ("median", "worst")
BAGGING = ("folds", "bootstrap")
ROWS_PER_BIN = 50

#: Data confidence at or above these shares is "high" / "medium" (below: "low").
CONFIDENCE_CUTS = (0.8, 0.5)


def confidence_level(share: np.ndarray) -> np.ndarray:
    """"high" / "medium" / "low" for data-confidence shares (0..1), for display."""
    share = np.asarray(share, dtype=float)
    hi, mid = CONFIDENCE_CUTS
    return np.where(share >= hi, "high", np.where(share >= mid, "medium", "low")).astype(object)


def confidence_level_of(share: float) -> str:
    """:func:`confidence_level` of one share (no array per firm)."""
    hi, mid = CONFIDENCE_CUTS
    return "high" if share >= hi else "medium" if share >= mid else "low"


@dataclass(frozen=True, slots=True)
class FeatureBins:
    """How one feature's values map to bin codes; code ``n_codes`` means missing/unknown."""

    name: str
    categorical: bool
    edges: np.ndarray  # numeric: bin = number of edges below the value (x <= edge goes left)
    categories: tuple[Any, ...] = ()

    @property
    def n_codes(self) -> int:
        return len(self.categories) if self.categorical else len(self.edges) + 1

    def codes(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Bin code of each value (int32); missing and unseen categories get ``n_codes``."""
        if self.categorical:
            c = pd.Categorical(pd.Series(values).astype("object"), categories=list(self.categories))
            codes = np.asarray(c.codes, dtype=np.int32)
            codes[codes < 0] = self.n_codes
            return codes
        x = _as_float(values)
        codes = np.searchsorted(self.edges, x, side="left").astype(np.int32)
        codes[np.isnan(x)] = self.n_codes
        return codes

    def describe(self, code: int) -> str:
        """Human-readable range of a bin, for tables and reports."""
        if code >= self.n_codes:
            return "missing"
        if self.categorical:
            return str(self.categories[code])
        lo = "-inf" if code == 0 else f"{self.edges[code - 1]:.6g}"
        hi = "inf" if code == len(self.edges) else f"{self.edges[code]:.6g}"
        return f"({lo}, {hi}]"


def _as_float(values: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(values, pd.Series):
        if values.dtype == bool:
            return values.to_numpy(dtype=float)
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.asarray(values, dtype=float)


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _fit_bins(name: str, s: pd.Series, n_bins: int, categorical: bool) -> FeatureBins:
    if categorical:
        counts = s.astype("object").dropna().value_counts()
        cats = tuple(counts.index[:_MAX_CATEGORIES])
        return FeatureBins(name, True, np.empty(0), cats)
    x = _as_float(s)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return FeatureBins(name, False, np.empty(0))
    uniq = np.unique(x)
    if uniq.size <= n_bins:
        edges = (uniq[:-1] + uniq[1:]) / 2.0
    else:
        edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
        edges = edges[edges < uniq[-1]]  # the top bin must not be empty
    return FeatureBins(name, False, edges.astype(float))


class ValueRow(Mapping[str, Any]):
    """One row of a batch's scored input, by indicator code (``ScoreBatch.value_row``)."""

    __slots__ = ("_at", "_row")

    def __init__(self, row: np.ndarray, at: dict[str, int]) -> None:
        self._row, self._at = row, at

    def __getitem__(self, code: str) -> Any:
        return self._row[self._at[code]]

    def __contains__(self, code: object) -> bool:
        return code in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


@dataclass(slots=True)
class ScoreBatch:
    """Scores of a batch of rows, with the additive explanation of each.

    ``base_points + contributions.sum(axis=1) + clip_points == score`` holds exactly for every
    row; ``clip_points`` is nonzero only for the rare rows whose points fall outside 0..1000.
    Each contribution is its bin's own integer (rounded once per bin), so two firms in the same
    bin are always shown the same points; ``pd`` and ``grade`` are read off the integer score.
    Contributions are points relative to the typical (median) training firm, so a negative
    contribution is a weakness and the most negative ones are the reasons.
    """

    index: pd.Index
    features: list[str]
    pd: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    base_points: int
    contributions: np.ndarray
    clip_points: np.ndarray
    dimensions: list[str]
    dimension_scores: np.ndarray
    reasons: np.ndarray  # feature index of the top adverse contributions, -1 = none
    reason_points: np.ndarray
    values: pd.DataFrame | None = None  # the scored input (for reason texts)
    #: share (0..1) of the data sources that report on each row; never enters the score
    data_confidence: np.ndarray | None = None
    #: the data sources counted, and (sources x rows) whether each reports on each row
    source_names: tuple[str, ...] = ()
    sources_seen: np.ndarray | None = None
    profile_version: int | None = None
    model_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: (rows x features) int8: nonzero where the value was in doubt and counted at most as
    #: unknown (1 + the index of the finding in ``scoring.authenticity.SUSPECT_CHECKS``)
    suspect: np.ndarray | None = None
    #: ``values`` as one array (the common dtype, as a row of the frame has) and each column's
    #: position: built on the first ``value_row``, so rendering a region's reasons reads rows
    #: off an array instead of building a pandas row per reason
    _value_grid: tuple[np.ndarray, dict[str, int]] | None = field(default=None, init=False, repr=False,
                                                                   compare=False)

    def __len__(self) -> int:
        return len(self.index)

    def value_row(self, row: int) -> ValueRow | None:
        """The scored input of one row (by position), looked up by indicator code: the values
        ``values.iloc[row]`` gives (in a frame of mixed kinds a numpy scalar may come as the
        Python one; the reasons read both alike)."""
        if self.values is None:
            return None
        if self._value_grid is None:
            self._value_grid = (self.values.to_numpy(), {c: j for j, c in enumerate(self.values.columns)})
        grid, at = self._value_grid
        return ValueRow(grid[row], at)

    def missing_sources(self, row: int) -> list[str]:
        """The data sources (``confidence_groups`` names) that report nothing on a row."""
        if self.sources_seen is None:
            return []
        return [name for k, name in enumerate(self.source_names) if not self.sources_seen[k, row]]

    def reason_codes(self) -> np.ndarray:
        """(rows x top_n) feature codes of the reasons, None where there is none."""
        names = np.asarray(self.features + [None], dtype=object)
        return names[self.reasons]

    def frame(self) -> pd.DataFrame:
        """One row per input row: pd, score, grade, dimension scores and reason codes."""
        out = pd.DataFrame(
            {"pd": self.pd, "score": self.score, "grade": self.grade}, index=self.index
        )
        for k, d in enumerate(self.dimensions):
            out[f"dim_{d}"] = self.dimension_scores[:, k]
        if self.data_confidence is not None:
            out["data_confidence"] = self.data_confidence
            out["data_confidence_level"] = confidence_level(self.data_confidence)
        codes = self.reason_codes()
        for k in range(codes.shape[1]):
            out[f"reason_{k + 1}"] = codes[:, k]
            out[f"reason_{k + 1}_points"] = np.where(
                self.reasons[:, k] >= 0, self.reason_points[:, k], 0
            )
        return out

    def contributions_frame(self) -> pd.DataFrame:
        """Integer points per feature and row (the additive explanation)."""
        return pd.DataFrame(self.contributions, index=self.index, columns=self.features)


def bag_rows(rng: np.random.Generator, group_of: np.ndarray) -> np.ndarray:
    """A bootstrap bag drawn by group: groups (``group_of[i]`` is row i's group, 0..G-1) are
    drawn with replacement and every row of a drawn group comes in as often as its group was
    drawn; the rows of undrawn groups are the bag's out-of-bag rows."""
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
    return np.repeat(np.arange(len(group_of)), counts[group_of])


def fold_of(rng: np.random.Generator, group_of: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """The fold (0..k-1) of every row for a k-fold committee: whole groups go to one fold,
    groups are dealt round-robin in a random order within each class (a group is bad if any of
    its rows is), so every fold keeps the class balance and every row is out of exactly one
    fold's model."""
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    bad = np.zeros(n_groups, dtype=bool)
    bad[group_of[y == 1]] = True
    order = np.lexsort((rng.permutation(n_groups), bad))  # bad groups last, shuffled within
    fold = np.empty(n_groups, dtype=np.int64)
    fold[order] = np.arange(n_groups) % k
    return fold[group_of]


def _round_bins(base: float, tables: Sequence[np.ndarray], weights: np.ndarray,
                codes_t: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Integer points per bin, rounded once per bin, looked up for every row.

    Returns (base points, features x rows integer points, total per row). Each bin's points are
    rounded on their own (after the weight profile's factor), so every firm in a bin is shown
    the same integer and the score is their exact sum: a firm's points depend only on its own
    values, never on the other indicators' rounding.
    """
    p, n = codes_t.shape
    ints = np.empty((p, n), dtype=np.int32)
    for j, t in enumerate(tables):
        np.take(np.rint(weights[j] * t).astype(np.int32), codes_t[j], out=ints[j])
    base_int = int(np.rint(base))
    total = base_int + ints.sum(axis=0, dtype=np.int64)
    return base_int, ints, total


class Scorecard(ClassifierMixin, BaseEstimator):
    """Additive, monotone, calibrated credit scorecard (scikit-learn estimator).

    Parameters
    ----------
    monotone: feature -> +1 (higher is better for credit), -1 (higher is worse), 0 (free).
    dimensions: feature -> dimension code, for dimension (radar) scores; default one "all".
    categorical: features to treat as categorical; default: non-numeric dtypes.
    n_bins: quantile bins per numeric feature (plus one for missing values); None (default):
        one bin per ``ROWS_PER_BIN`` training rows, between 8 and 32, so a bin's points rest on
        enough firms (a 1,000-row sample gets 16 bins, a region 32).
    n_bags: fits averaged (each is additive, so the average is too).
    bagging: "folds" (default): a k-fold committee of ``n_bags`` fits, each leaving out one
        fold of the rows (of the groups, when given), so every row is out of exactly one fit
        and the calibration reads each row's held-out prediction once; the fits share most of
        their data, so a different random seed barely moves a score. "bootstrap": each fit
        draws a bootstrap sample (more diverse fits, and more seed-to-seed movement).
    learning_rate, max_iter, l2_regularization, min_samples_leaf, max_leaf_nodes, max_features:
        passed to each bag's HistGradientBoostingClassifier (stumps by default).
    stratify_bags: bootstrap within each class instead of over all rows.
    n_threads: OpenMP threads for boosting (None = all cores). One by default: the many small
        stump fits gain little from threads and slow down badly on a busy machine.
    missing_points: "median" caps every feature's missing-value points at its median bin's
        (a firm never gains from missing data); "worst" at its worst bin's (hiding a feature's
        data can never raise a score). The cap is applied to every bag before out-of-bag
        calibration, so the calibration sees the capped model.
    confidence_groups: feature -> data source; the data confidence of a row is the share of
        sources with at least one reported feature (features not named are not counted).
        Default: each feature is its own source.
    scale: the ScoreScale; None is the platform's fixed ``STANDARD_SCALE`` (600 = PD 1 %,
        PDO 40), the same for every model so a score means one PD across versions.
    bands: the GradeBands; None is the fixed ``STANDARD_BANDS`` (A < 0.5 %, B < 1.5 %,
        C < 6 %), unless ``grade_shares`` is given.
    grade_shares: cut the bands at PD quantiles of the training sample instead, so its grades
        split in these shares (e.g. ``WEIHAI_SHARES``): for experiments; such grades move with
        every refit.
    """

    def __init__(
        self,
        *,
        monotone: Mapping[str, int] | None = None,
        dimensions: Mapping[str, str] | None = None,
        categorical: Sequence[str] | None = None,
        n_bins: int | None = None,
        n_bags: int = 20,
        bagging: str = "folds",
        learning_rate: float = 0.1,
        max_iter: int = 2000,
        l2_regularization: float = 50.0,
        min_samples_leaf: int = 10,
        max_leaf_nodes: int = 2,
        max_features: float = 1.0,
        scale: ScoreScale | None = None,
        bands: GradeBands | None = None,
        grade_shares: Sequence[float] | None = None,
        top_n: int = 3,
        stratify_bags: bool = False,
        n_threads: int | None = 1,
        missing_points: str = "median",
        confidence_groups: Mapping[str, str] | None = None,
        random_state: int = 42,
    ) -> None:
        self.monotone = monotone
        self.dimensions = dimensions
        self.categorical = categorical
        self.n_bins = n_bins
        self.n_bags = n_bags
        self.bagging = bagging
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.l2_regularization = l2_regularization
        self.min_samples_leaf = min_samples_leaf
        self.max_leaf_nodes = max_leaf_nodes
        self.max_features = max_features
        self.scale = scale
        self.bands = bands
        self.grade_shares = grade_shares
        self.top_n = top_n
        self.stratify_bags = stratify_bags
        self.n_threads = n_threads
        self.missing_points = missing_points
        self.confidence_groups = confidence_groups
        self.random_state = random_state

    # ----------------------------------------------------------------------------- fitting
    def fit(self, X: pd.DataFrame, y: Sequence[int] | np.ndarray | pd.Series,
            groups: Sequence[object] | np.ndarray | None = None) -> Scorecard:
        """Fit bins, the additive model, the calibration, the score scale and PD bands.

        ``groups`` (e.g. the firm of each row, when one firm is a row at several dates): each
        bag draws whole groups, so a firm is in a bag or out of it at every date, and the
        calibration, fitted on out-of-bag predictions, never sees a firm the bag learned from.
        """
        X = self._as_frame(X)
        y = np.asarray(y).astype(int).ravel()
        if len(y) != len(X):
            raise ValueError("X and y differ in length")
        if groups is not None and len(groups) != len(y):
            raise ValueError("groups and y differ in length")
        if set(np.unique(y)) != {0, 1}:
            raise ValueError("y must contain both 0 (good) and 1 (bad)")
        if self.bagging not in BAGGING:
            raise ValueError(f"bagging must be one of {BAGGING}")
        if self.missing_points not in MISSING_POINTS:
            raise ValueError(f"missing_points must be one of {MISSING_POINTS}")
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        cat = set(self.categorical or [c for c in X.columns if _is_categorical(X[c])])
        n_bins = self.n_bins if self.n_bins is not None else int(np.clip(len(y) // ROWS_PER_BIN, 8, 32))
        self.bins_ = [_fit_bins(c, X[c], n_bins, c in cat) for c in X.columns]
        codes = self._codes(X)
        mono = dict(self.monotone or {})
        cst = [0 if b.categorical else -int(np.sign(mono.get(b.name, 0))) for b in self.bins_]
        with threadpool_limits(limits=self.n_threads):
            logit_tables, intercept, oob = self._fit_bags(codes, y, cst, groups)
        a, b = self._calibrate(oob, y)
        self.calibration_ = (a, b)
        self.logit_tables_ = [a * t for t in logit_tables]
        self.logit_intercept_ = a * intercept + b
        train_logit = self._logit_from_codes(codes)
        self.scale_ = self.scale if self.scale is not None else STANDARD_SCALE
        factor = self.scale_.factor
        points = [-factor * t for t in self.logit_tables_]
        neutral = [
            float(p[self._typical_code(codes[:, j], b)])
            for j, (p, b) in enumerate(zip(points, self.bins_, strict=True))
        ]
        self.neutral_points_ = np.asarray(neutral)
        self.point_tables_ = [p - n for p, n in zip(points, neutral, strict=True)]
        self.base_points_ = float(self.scale_.points(self.logit_intercept_) + sum(neutral))
        dims = dict(self.dimensions or {})
        self.dimension_of_ = [dims.get(c, "all") for c in self.feature_names_in_]
        self.dimension_names_ = list(dict.fromkeys(self.dimension_of_))
        train_pd = 1.0 / (1.0 + np.exp(-train_logit))
        if self.bands is not None:
            self.bands_ = self.bands
        elif self.grade_shares is not None:
            self.bands_ = GradeBands.from_shares(train_pd, self.grade_shares)
        else:
            self.bands_ = STANDARD_BANDS
        self.bin_frequencies_ = [
            np.bincount(codes[:, j], minlength=b.n_codes + 1) / len(y)
            for j, b in enumerate(self.bins_)
        ]
        self.train_scores_ = np.clip(
            np.rint(self.scale_.points(train_logit)), SCORE_MIN, SCORE_MAX
        ).astype(np.int32)
        train_contrib = np.stack([t[codes[:, j]] for j, t in enumerate(self.point_tables_)])
        self.dimension_quantiles_ = np.percentile(
            self._dimension_member() @ train_contrib, np.arange(101), axis=1)
        return self

    def _dimension_member(self) -> np.ndarray:
        """dimensions x features: 1 where the feature belongs to the dimension."""
        dims = self.dimension_names_
        member = np.zeros((len(dims), len(self.point_tables_)))
        for j, d in enumerate(self.dimension_of_):
            member[dims.index(d), j] = 1.0
        return member

    @staticmethod
    def _typical_code(col: np.ndarray, b: FeatureBins) -> int:
        """The neutral point: the bin of the (lower) median value among rows that report the
        feature (the most frequent category; "missing" if nobody reports it)."""
        valid = np.sort(col[col < b.n_codes])
        if valid.size == 0:
            return b.n_codes
        return 0 if b.categorical else int(valid[(valid.size - 1) // 2])

    def _fit_bags(
        self, codes: np.ndarray, y: np.ndarray, cst: list[int], groups: Sequence[object] | None = None
    ) -> tuple[list[np.ndarray], float, np.ndarray]:
        n, p = codes.shape
        H = codes.astype(float)
        grid, spans = self._grid()
        worst = getattr(self, "missing_points", "median") == "worst"
        for j, b in enumerate(self.bins_):
            # With "worst", a monotone feature's missing value sits past its worst bin while
            # fitting, so the constraint itself keeps it at or below the worst bin's points and
            # the other points are fitted knowing it (capping a freely learnt missing bin
            # afterwards would shift the firms without the feed by points no fit chose).
            missing = np.nan
            if worst and cst[j] != 0:
                missing = -1.0 if cst[j] < 0 else float(b.n_codes)
            H[codes[:, j] == b.n_codes, j] = missing
            grid[spans[j].stop - 1, j] = missing
        cap_codes = [self._typical_code(codes[:, j], b) for j, b in enumerate(self.bins_)]
        rng = np.random.default_rng(self.random_state)
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        group_of = None if groups is None else np.unique(np.asarray(groups, dtype=object).astype(str),
                                                         return_inverse=True)[1]
        folds = None
        if self.bagging == "folds" and self.n_bags > 1:
            folds = fold_of(rng, np.arange(n) if group_of is None else group_of, y, self.n_bags)
        tables = [np.zeros(b.n_codes + 1) for b in self.bins_]
        intercept = 0.0
        oob_sum, oob_cnt = np.zeros(n), np.zeros(n)
        for bag in range(self.n_bags):
            if self.n_bags == 1:
                idx = np.arange(n)
            elif folds is not None:
                idx = np.flatnonzero(folds != bag)
                if y[idx].min() == y[idx].max():  # a fit needs both classes (tiny samples)
                    idx = np.concatenate([idx, pos[:1], neg[:1]])
            elif group_of is not None:
                idx = bag_rows(rng, group_of)
                if y[idx].min() == y[idx].max():
                    idx = np.concatenate([idx, pos[:1], neg[:1]])
            elif self.stratify_bags:  # every bag keeps the class balance
                idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
            else:
                idx = rng.choice(n, n)
                if y[idx].min() == y[idx].max():  # a bag needs both classes
                    idx = np.concatenate([idx, pos[:1], neg[:1]])
            model = HistGradientBoostingClassifier(
                learning_rate=self.learning_rate,
                max_iter=self.max_iter,
                l2_regularization=self.l2_regularization,
                min_samples_leaf=self.min_samples_leaf,
                max_leaf_nodes=self.max_leaf_nodes,
                max_features=self.max_features,
                max_bins=255,
                categorical_features=[b.categorical for b in self.bins_],
                monotonic_cst=cst,
                interaction_cst=[[j] for j in range(p)],
                early_stopping=False,
                random_state=self.random_state + bag,
            )
            Hb = H[idx]
            empty = np.isnan(Hb).all(axis=0)
            if empty.any():  # HGB cannot bin an all-missing column; a constant gives no splits
                Hb[:, empty] = 0.0
            model.fit(Hb, y[idx])
            out = np.ones(n, dtype=bool)
            out[idx] = False
            raw = model.decision_function(grid)
            ref = raw[0]
            bag_tables = [raw[s] - ref for s in spans]  # exact: every tree reads one feature
            self._cap_missing(bag_tables, cap_codes)
            for j in range(p):
                tables[j] += bag_tables[j] / self.n_bags
            intercept += ref / self.n_bags
            if out.any():
                contrib = np.zeros(int(out.sum()))
                for j in range(p):
                    contrib += bag_tables[j][codes[out, j]]
                oob_sum[out] += ref + contrib
                oob_cnt[out] += 1
        full = np.full(n, intercept)
        for j in range(p):
            full += tables[j][codes[:, j]]
        oob = np.where(oob_cnt > 0, oob_sum / np.maximum(oob_cnt, 1), full)
        return tables, intercept, oob

    def _cap_missing(self, tables: list[np.ndarray], typical: list[int]) -> None:
        """Raise each missing bin's log-odds of default to at least the median bin's (or the
        worst bin's), in place: missing data is never a reward.

        Applied to every bag, so the bagged average and the out-of-bag predictions obey it
        too (the mean of values each >= its bag's reference is >= the mean reference), and
        Platt scaling (a positive factor) keeps the order.
        """
        worst = getattr(self, "missing_points", "median") == "worst"
        for t, b, typ in zip(tables, self.bins_, typical, strict=True):
            if typ >= b.n_codes:  # nobody reports the feature: nothing to compare with
                continue
            ref = float(t[: b.n_codes].max()) if worst else float(t[typ])
            t[b.n_codes] = max(float(t[b.n_codes]), ref)

    def _grid(self) -> tuple[np.ndarray, list[slice]]:
        """Rows that set one feature to each of its codes (NaN elsewhere), after a NaN row."""
        p = len(self.bins_)
        sizes = [b.n_codes + 1 for b in self.bins_]
        grid = np.full((1 + sum(sizes), p), np.nan)
        spans, start = [], 1
        for j, (b, size) in enumerate(zip(self.bins_, sizes, strict=True)):
            grid[start : start + b.n_codes, j] = np.arange(b.n_codes)
            spans.append(slice(start, start + size))
            start += size
        return grid, spans

    @staticmethod
    def _calibrate(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """Platt scaling of out-of-bag log-odds: linear in the logit, so still additive."""
        lr = LogisticRegression(C=1e4, max_iter=1000).fit(logit.reshape(-1, 1), y)
        a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return (a, b) if a > 0 else (1.0, 0.0)

    # ----------------------------------------------------------------------------- scoring
    def _as_frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        X = np.asarray(X)
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])

    def _codes(self, X: pd.DataFrame) -> np.ndarray:
        return self._codes_t(X).T

    def _codes_t(self, X: pd.DataFrame) -> np.ndarray:
        """Bin codes as (features x rows): each feature's codes are contiguous."""
        missing = [b.name for b in self.bins_ if b.name not in X.columns]
        if missing:
            raise ValueError(f"missing feature columns: {missing[:5]}")
        out = np.empty((len(self.bins_), len(X)), dtype=np.int32)
        for j, b in enumerate(self.bins_):
            out[j] = b.codes(X[b.name])
        return out

    def _logit_from_codes(self, codes: np.ndarray) -> np.ndarray:
        out = np.full(len(codes), self.logit_intercept_)
        for j, t in enumerate(self.logit_tables_):
            out += t[codes[:, j]]
        return out

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of default (no weight profile)."""
        check_is_fitted(self, "logit_tables_")
        return self._logit_from_codes(self._codes(self._as_frame(X)))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """[[P(good), P(default)]] per row."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the PD is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def rate(
        self,
        X: pd.DataFrame,
        profile: Any | None = None,
        top_n: int | None = None,
        keep_values: bool = True,
        suspect: np.ndarray | None = None,
    ) -> ScoreBatch:
        """Score, grade, explain: PD, 0..1000 score, grade, integer points per feature,
        dimension scores (0..100) and the top adverse reasons, for every row.

        ``profile`` (a :class:`scoring.weights.WeightProfile`) scales each feature's
        contribution around the neutral point by its factor; PD and grade follow the
        adjusted score.

        ``suspect`` (rows x features, nonzero where another source puts the value in doubt,
        ``scoring.authenticity.Assessment.suspect``): such a value counts at most as an unknown
        one (the lower of its own points and the missing bin's), so doubtful data never earns
        points; the batch keeps the codes for the reasons.
        """
        check_is_fitted(self, "point_tables_")
        X = self._as_frame(X)
        codes_t = self._codes_t(X)
        p, n = codes_t.shape
        top_n = self.top_n if top_n is None else top_n
        weights = (
            np.ones(p)
            if profile is None
            else np.asarray(
                profile.factors(list(self.feature_names_in_), self.dimension_of_), dtype=float
            )
        )
        base_int, ints, total = _round_bins(self.base_points_, self.point_tables_, weights,
                                            codes_t)
        doubt = None
        if suspect is not None:
            doubt = np.asarray(suspect, dtype=np.int8)
            if doubt.shape != (n, p):
                raise ValueError(f"suspect: expected shape {(n, p)}, got {doubt.shape}")
            for j in np.flatnonzero(doubt.any(axis=0)):
                unknown = np.int32(np.rint(weights[j] * self.point_tables_[j][self.bins_[j].n_codes]))
                rows = doubt[:, j] != 0
                ints[j, rows] = np.minimum(ints[j, rows], unknown)
            total = base_int + ints.sum(axis=0, dtype=np.int64)
        score = np.clip(total, SCORE_MIN, SCORE_MAX)
        clip_points = (score - total).astype(np.int32)
        # PD and grade are read off the integer score (the scale's inverse), so equal scores
        # share a PD and a grade, and the PD always lies in its grade's band.
        pd_ = 1.0 / (1.0 + np.exp(-self.scale_.bad_logit(score)))
        grade = self.bands_.assign(pd_)
        contrib = ints.astype(float)  # features x rows
        dim_scores = self._dimension_scores(contrib, weights)  # reads contrib before the loop
        k = min(top_n, p)
        reasons = np.full((n, k), -1, dtype=np.int32)
        rpts = np.zeros((n, k), dtype=np.int32)
        work = contrib  # a fresh array of its own: the reasons loop may overwrite it
        cols = np.arange(n)
        for slot in range(k):  # k passes of argmin beat a per-row sort
            j = np.argmin(work, axis=0)
            v = work[j, cols]
            real = v <= -1.0  # only real weaknesses (at least one point)
            reasons[:, slot] = np.where(real, j, -1)
            rpts[:, slot] = np.where(real, ints[j, cols], 0)
            work[j, cols] = np.inf
        sources, seen = self.data_sources(X, codes_t)
        return ScoreBatch(
            index=X.index,
            features=list(self.feature_names_in_),
            pd=pd_,
            score=score.astype(np.int32),
            grade=grade,
            base_points=base_int,
            contributions=ints.T,
            clip_points=clip_points,
            dimensions=list(self.dimension_names_),
            dimension_scores=dim_scores,
            reasons=reasons,
            reason_points=rpts,
            values=X if keep_values else None,
            data_confidence=seen.mean(axis=0) if len(sources) else np.ones(n),
            source_names=tuple(sources),
            sources_seen=seen,
            profile_version=None if profile is None else profile.version,
            suspect=doubt,
        )

    def data_confidence(self, X: pd.DataFrame, codes_t: np.ndarray | None = None) -> np.ndarray:
        """Share (0..1) of the data sources (``confidence_groups``) that report at least one
        feature of each row. Shown beside the score; it never changes the score."""
        sources, seen = self.data_sources(X, codes_t)
        return seen.mean(axis=0) if sources else np.ones(seen.shape[1])

    def data_sources(self, X: pd.DataFrame, codes_t: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """The data sources (``confidence_groups`` names; default each feature) and, per source
        and row, whether the source reports at least one of its features on the row."""
        check_is_fitted(self, "point_tables_")
        if codes_t is None:
            codes_t = self._codes_t(self._as_frame(X))
        given = getattr(self, "confidence_groups", None)
        groups = dict(given) if given is not None else {b.name: b.name for b in self.bins_}
        names = [groups.get(b.name) for b in self.bins_]  # None: not a source of its own
        sources = list(dict.fromkeys(n for n in names if n is not None))
        seen = np.zeros((len(sources), codes_t.shape[1]), dtype=bool)
        for j, (name, b) in enumerate(zip(names, self.bins_, strict=True)):
            if name is not None:
                seen[sources.index(name)] |= codes_t[j] < b.n_codes
        return sources, seen

    def _dimension_scores(self, contrib_t: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Each dimension's summed contributions as a 0..100 standing: the share of the
        training firms whose sum is lower (ties count half), so 50 is a typical firm and a
        dimension the model learned nothing from is 50 for everyone.

        The sums are coarse (a few bins per indicator), so a linear map between the worst and
        best possible sums put most firms at 0 or 100; the standing spreads them and reads
        the same way for every dimension. Models saved before it fall back to the linear map.
        """
        member = self._dimension_member()
        sums = member @ contrib_t  # dimensions x rows
        q = getattr(self, "dimension_quantiles_", None)
        if q is not None:
            out = np.empty_like(sums)
            for k in range(len(sums)):
                below = np.searchsorted(q[:, k], sums[k], side="left")
                upto = np.searchsorted(q[:, k], sums[k], side="right")
                out[k] = (below + upto) / 2.0
            return np.clip(out.T * (100.0 / 101.0), 0.0, 100.0)
        lo = member @ np.array([w * t.min() for w, t in zip(weights, self.point_tables_, strict=True)])
        hi = member @ np.array([w * t.max() for w, t in zip(weights, self.point_tables_, strict=True)])
        span = np.where(hi > lo, hi - lo, 1.0)
        lin = 100.0 * (sums.T - lo) / span
        return np.clip(np.where(hi > lo, lin, 50.0), 0.0, 100.0)

    def points_table(self) -> pd.DataFrame:
        """The whole scorecard: feature, bin, the integer points every firm in the bin is shown
        (relative to neutral, no weight profile), the unrounded points, training share."""
        check_is_fitted(self, "point_tables_")
        rows = []
        for b, t, f in zip(self.bins_, self.point_tables_, self.bin_frequencies_, strict=True):
            for code in range(b.n_codes + 1):
                rows.append((b.name, code, b.describe(code), int(np.rint(t[code])),
                             float(t[code]), float(f[code])))
        return pd.DataFrame(rows, columns=["feature", "code", "bin", "points", "points_exact",
                                           "share"])

    def bin_codes(self, X: pd.DataFrame) -> pd.DataFrame:
        """The bin code of every feature for every row (``n_codes`` of the feature = missing),
        the key of :meth:`points_table`."""
        check_is_fitted(self, "point_tables_")
        X = self._as_frame(X)
        return pd.DataFrame(self._codes(X), index=X.index, columns=list(self.feature_names_in_))
