"""The owner's credit screen: the evaluation and the firm's open warnings."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobile_app.api import ApiClient, ApiError, ConnectionLost
from mobile_app.api.models import DIMENSIONS, Evaluation, FirmTies, Warning
from mobile_app.state.base import Loadable

__all__ = ["CreditState"]


@dataclass(kw_only=True)
class CreditState(Loadable):
    client: ApiClient
    uscc: str | None
    evaluation: Evaluation | None = None
    warnings: list[Warning] = field(default_factory=list)
    warnings_error: str | None = None
    ties: FirmTies | None = None  # the guarantee circle picture's data (None: not loaded or refused)

    async def load(self) -> None:
        if not self.uscc:
            self.status = "ready"
            self.notify()
            return
        uscc = self.uscc
        evaluation = await self._run(lambda: self.client.evaluation(uscc),
                                     store=lambda ev: setattr(self, "evaluation", ev))
        if evaluation is None:
            if self.error_kind == "api" and self.error and "not been scored" in self.error:
                self.status = "ready"  # a firm without a score yet is an empty state, not an error
            self.notify()
            return
        self.evaluation = evaluation
        await self.load_warnings()

    async def load_warnings(self) -> None:
        if not self.uscc:
            return
        try:
            found = await self.client.firm_warnings(self.uscc)
            self.warnings = [w for w in found.warnings if w.status == "open"]
            self.warnings_error = None
        except (ApiError, ConnectionLost) as exc:
            self.warnings_error = exc.detail if isinstance(exc, ApiError) else str(exc)
        try:  # the circle changes with the warnings (levels, the contagion path)
            self.ties = await self.client.ties(self.uscc)
        except (ApiError, ConnectionLost):
            pass  # the picture is extra: the screen stands without it
        self.notify()

    @property
    def radar(self) -> list[tuple[str, float, float | None]]:
        """(dimension, firm 0..100, industry average or None) in drawing order."""
        if self.evaluation is None:
            return []
        industry = self.evaluation.industry.dimensions if self.evaluation.industry else {}
        return [(d, float(self.evaluation.dimensions.get(d, 0.0)),
                 float(industry[d]) if d in industry else None) for d in DIMENSIONS]

    @property
    def top_reasons(self) -> list:
        """Reasons that cost points first, worst first (at most five)."""
        if self.evaluation is None:
            return []
        return sorted(self.evaluation.reasons, key=lambda r: r.points)[:5]
