"""Weight profiles: admin-approved damping or boosting of indicators or whole dimensions.

A profile multiplies each chosen indicator's contribution, which is measured from the neutral
point (the typical firm), by a factor: ``contribution' = factor * contribution``. A firm at the
neutral point is unaffected, a weakness is damped (factor < 1) or stressed (factor > 1), and the
change in score is exactly the sum of the changed contributions, so it stays explainable.
Profiles are immutable and versioned; every revision is a new version with an audit entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime

import numpy as np

from .errors import InvalidValue
from .indicators import DIMENSIONS, INDICATORS

__all__ = ["Adjustment", "AuditEntry", "WeightProfile", "active_profile"]


@dataclass(frozen=True, slots=True)
class Adjustment:
    """Scale the contributions of a target by ``factor`` (>= 0).

    ``target`` is an indicator code (``"vat_yoy"``), a dimension (``"dimension:solvency"``) or
    every indicator reading a record kind (``"kind:tax_monthly"``, i.e. "tax x 0.5").
    Several adjustments that hit one indicator multiply.
    """

    target: str
    factor: float

    def __post_init__(self) -> None:
        if not (self.factor >= 0 and np.isfinite(self.factor)):
            raise InvalidValue("factor must be a finite number >= 0")
        kind, _, name = self.target.partition(":")
        if name:
            if kind not in ("dimension", "kind"):
                raise InvalidValue("unknown target type {kind!r}", kind=kind)
            if kind == "dimension" and name not in DIMENSIONS:
                raise InvalidValue("unknown dimension {name!r}", name=name)

    def hits(self, feature: str, dimension: str) -> bool:
        kind, _, name = self.target.partition(":")
        if not name:
            return feature == self.target
        if kind == "dimension":
            return dimension == name
        ind = INDICATORS.get(feature)
        return ind is not None and name in ind.kinds


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who changed a profile, when and why."""

    version: int
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class WeightProfile:
    """A versioned set of adjustments valid from ``valid_from`` to ``valid_to`` (inclusive)."""

    name: str
    version: int
    adjustments: tuple[Adjustment, ...]
    reason: str
    valid_from: date
    valid_to: date | None = None
    created_by: str = ""
    history: tuple[AuditEntry, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")

    @classmethod
    def create(cls, name: str, adjustments: Iterable[Adjustment], reason: str,
               valid_from: date, valid_to: date | None = None, created_by: str = "",
               now: datetime | None = None) -> WeightProfile:
        """Version 1 of a new profile, with its first audit entry."""
        now = now or datetime.now(UTC)
        return cls(name, 1, tuple(adjustments), reason, valid_from, valid_to, created_by,
                   (AuditEntry(1, created_by, now, reason),))

    def revise(self, *, changed_by: str, reason: str, now: datetime | None = None,
               adjustments: Iterable[Adjustment] | None = None,
               valid_from: date | None = None, valid_to: date | None = None) -> WeightProfile:
        """A new version with the given changes and an audit entry; this one is unchanged."""
        now = now or datetime.now(UTC)
        v = self.version + 1
        return replace(
            self, version=v, reason=reason,
            adjustments=self.adjustments if adjustments is None else tuple(adjustments),
            valid_from=valid_from or self.valid_from,
            valid_to=valid_to if valid_to is not None else self.valid_to,
            history=self.history + (AuditEntry(v, changed_by, now, reason),))

    def is_valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def factors(self, features: Sequence[str], dimension_of: Sequence[str]) -> np.ndarray:
        """The multiplier of each feature's contribution (1 where no adjustment applies)."""
        out = np.ones(len(features))
        for j, (f, d) in enumerate(zip(features, dimension_of, strict=True)):
            for a in self.adjustments:
                if a.hits(f, d):
                    out[j] *= a.factor
        return out

    def to_dict(self) -> dict[str, object]:
        """Plain data for storage (dates as ISO strings)."""
        d = asdict(self)
        d["valid_from"] = self.valid_from.isoformat()
        d["valid_to"] = None if self.valid_to is None else self.valid_to.isoformat()
        d["history"] = [{**asdict(h), "changed_at": h.changed_at.isoformat()}
                        for h in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> WeightProfile:
        hist = tuple(AuditEntry(int(h["version"]), str(h["changed_by"]),
                                datetime.fromisoformat(str(h["changed_at"])), str(h["reason"]))
                     for h in d.get("history", ()))  # type: ignore[union-attr]
        return cls(
            name=str(d["name"]), version=int(d["version"]),  # type: ignore[arg-type]
            adjustments=tuple(Adjustment(str(a["target"]), float(a["factor"]))
                              for a in d["adjustments"]),  # type: ignore[union-attr]
            reason=str(d["reason"]), valid_from=date.fromisoformat(str(d["valid_from"])),
            valid_to=None if d.get("valid_to") is None else date.fromisoformat(str(d["valid_to"])),
            created_by=str(d.get("created_by", "")), history=hist)


def active_profile(profiles: Iterable[WeightProfile], day: date) -> WeightProfile | None:
    """The profile that applies on ``day``: among those valid then, the latest version of the
    one that starts last (None when no profile applies)."""
    valid = [p for p in profiles if p.is_valid_on(day)]
    if not valid:
        return None
    return max(valid, key=lambda p: (p.valid_from, p.version))
