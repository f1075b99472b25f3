"""The fixed score scale and the grade bands: what a score and a grade mean, in every version.

A score is a linear function of the log-odds of *not* defaulting, so it decomposes additively:
``score = offset + factor * ln(good:bad odds)`` with ``factor = pdo / ln 2`` and
``offset = base_points - factor * ln(base_odds)``.

The platform's scale and bands are fixed, not refitted with each model, so 600 means the same
PD under every model version and a grade keeps its meaning (``STANDARD_SCALE``,
``STANDARD_BANDS``; README.md, Scoring):

- 600 points = PD 1 % (good:bad odds 99:1); 40 points double the odds.
- Grades are PD bands: A below 0.5 %, B below 1.5 %, C below 6 %, D from 6 %. On the standard
  scale that is A from 641 points, B 577-640, C 494-576, D up to 493. The bands are cut for the
  population the models are developed on, firms that borrow (a bank's applicants), whose
  default rate runs at about 5 % a year: on the generated region they hold about 12 / 37 / 37 /
  15 % of the borrowers, near Weihai's published 9 / 39 / 38 / 13 %.

Fitting a scale or bands to a sample (``ScoreScale.spanning``, ``GradeBands.from_shares``)
stays available for experiments; a model fitted that way is not comparable across versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["GRADES", "STANDARD_BANDS", "STANDARD_SCALE", "WEIHAI_SHARES", "GradeBands", "ScoreScale"]

#: Grade letters, best first.
GRADES: tuple[str, ...] = ("A", "B", "C", "D")

#: The split Weihai published for its 17,006 registered firms (sums to 99 %; normalised).
WEIHAI_SHARES: tuple[float, ...] = (0.09, 0.39, 0.38, 0.13)

SCORE_MIN = 0
SCORE_MAX = 1000


@dataclass(frozen=True, slots=True)
class ScoreScale:
    """Points-to-double-odds scaling of the log-odds onto 0..1000 (the defaults are the
    platform's fixed scale: 600 = PD 1 %, 40 points to double the odds)."""

    base_points: float = 600.0
    base_odds: float = 99.0  # good:bad odds that earn base_points (PD 1 %)
    pdo: float = 40.0  # points that double the odds

    @property
    def factor(self) -> float:
        return self.pdo / np.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * np.log(self.base_odds)

    def points(self, bad_logit: np.ndarray) -> np.ndarray:
        """Unclipped, unrounded score of a log-odds of default."""
        return self.offset - self.factor * np.asarray(bad_logit, dtype=float)

    def bad_logit(self, points: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`points`."""
        return (self.offset - np.asarray(points, dtype=float)) / self.factor

    @classmethod
    def spanning(cls, bad_logits: np.ndarray, low: float = 50.0, high: float = 950.0,
                 quantiles: tuple[float, float] = (0.005, 0.995),
                 base_odds: float = 50.0) -> ScoreScale:
        """A scale mapping the given quantiles of a sample's log-odds to ``low``..``high``, so
        real firms use the whole 0..1000 range (a standard 600 @ 50:1, PDO 20 scale leaves most
        of it empty)."""
        good = -np.asarray(bad_logits, dtype=float)
        lo, hi = np.quantile(good[np.isfinite(good)], quantiles)
        if not hi > lo:
            return cls()
        factor = (high - low) / (hi - lo)
        offset = low - factor * lo
        return cls(base_points=float(offset + factor * np.log(base_odds)),
                   base_odds=float(base_odds), pdo=float(factor * np.log(2.0)))

    def pd(self, points: np.ndarray) -> np.ndarray:
        """The PD a score stands for."""
        return 1.0 / (1.0 + np.exp(-self.bad_logit(points)))

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GradeBands:
    """PD bands: grade A when pd < upper[0], B when < upper[1], C when < upper[2], else D."""

    upper: tuple[float, ...]
    grades: tuple[str, ...] = GRADES
    shares: tuple[float, ...] | None = None  # the target shares the bands were fitted to

    def __post_init__(self) -> None:
        if len(self.upper) != len(self.grades) - 1:
            raise ValueError("need one upper PD bound fewer than grades")
        if any(b <= a for a, b in zip(self.upper, self.upper[1:], strict=False)):
            raise ValueError("PD bounds must increase")

    def grade_index(self, pd_: np.ndarray) -> np.ndarray:
        """Index into ``grades`` (0 = best) for each PD."""
        return np.searchsorted(np.asarray(self.upper), np.asarray(pd_, dtype=float), side="right")

    def assign(self, pd_: np.ndarray) -> np.ndarray:
        """Grade letter for each PD."""
        return np.asarray(self.grades, dtype=object)[self.grade_index(pd_)]

    @classmethod
    def from_shares(cls, pd_sample: np.ndarray, shares: Sequence[float] = WEIHAI_SHARES,
                    grades: tuple[str, ...] = GRADES) -> GradeBands:
        """Bands cut at PD quantiles of a sample so its grades split in the given shares
        (e.g. the training sample and Weihai's published split). Recorded with the model."""
        cum = np.cumsum(np.asarray(shares, dtype=float))[:-1] / float(np.sum(shares))
        cuts = np.quantile(np.asarray(pd_sample, dtype=float), cum)
        cuts = np.maximum.accumulate(cuts)
        for i in range(1, len(cuts)):  # strictly increasing even on tied PDs
            if cuts[i] <= cuts[i - 1]:
                cuts[i] = np.nextafter(cuts[i - 1], 1.0)
        return cls(upper=tuple(float(c) for c in cuts), grades=grades,
                   shares=tuple(float(s) for s in shares))

    def min_scores(self, scale: ScoreScale) -> dict[str, int]:
        """The lowest integer score of each grade on ``scale`` (the worst grade: 0): a score
        ``s`` gets the grade of ``scale.pd(s)``, so these are the cut-offs a reader sees."""
        out: dict[str, int] = {}
        for k, upper in enumerate(self.upper):
            s = int(np.ceil(float(scale.points(np.log(upper / (1.0 - upper))))))
            while s > SCORE_MIN and self.grade_index(scale.pd(s - 1)) <= k:
                s -= 1  # the exact edge, whatever the float rounding
            while self.grade_index(scale.pd(s)) > k:
                s += 1
            out[self.grades[k]] = s
        out[self.grades[-1]] = SCORE_MIN
        return out

    def to_dict(self) -> dict[str, object]:
        return {"upper": list(self.upper), "grades": list(self.grades),
                "shares": None if self.shares is None else list(self.shares)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> GradeBands:
        """The inverse of :meth:`to_dict` (as stored with a model version)."""
        shares = d.get("shares")
        return cls(upper=tuple(float(u) for u in d["upper"]),  # type: ignore[union-attr]
                   grades=tuple(d.get("grades") or GRADES),  # type: ignore[arg-type]
                   shares=None if shares is None else tuple(shares))  # type: ignore[arg-type]


#: The platform's fixed scale (600 = PD 1 %, PDO 40) and PD bands (A < 0.5 %, B < 1.5 %,
#: C < 6 %, D from 6 %). Changing either changes what every new score and grade means (a stored
#: model keeps the bands it was trained with).
STANDARD_SCALE = ScoreScale()
STANDARD_BANDS = GradeBands(upper=(0.005, 0.015, 0.06))
