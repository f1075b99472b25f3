"""The owner's financing screen: need → matched products → apply with consent → timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import Application, ApplicationsCreated, MatchResult, ProductMatch
from mobile_app.state.base import Loadable

__all__ = ["FinancingState"]

MIN_AMOUNT, MAX_AMOUNT = 10_000, 100_000_000
MIN_TERM, MAX_TERM = 1, 120


@dataclass(kw_only=True)
class FinancingState(Loadable):
    client: ApiClient
    amount_text: str = "1000000"
    term_text: str = "12"
    purpose: str = ""
    invalid: str | None = None  # catalogue key of the form's problem
    result: MatchResult | None = None
    matching: bool = False
    pending: ProductMatch | None = None  # the product the owner is confirming
    consent_ok: bool = False
    submitting: bool = False
    applications: list[Application] = field(default_factory=list)
    detail: Application | None = None
    just_created: ApplicationsCreated | None = None

    def parsed(self) -> tuple[int, int] | None:
        """Amount and term when the form is valid; otherwise sets ``invalid``."""
        try:
            amount = int(self.amount_text.replace(",", "").replace("，", "").strip())
        except ValueError:
            amount = -1
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            self.invalid = "fin.bad_amount"
            return None
        try:
            term = int(self.term_text.strip())
        except ValueError:
            term = -1
        if not MIN_TERM <= term <= MAX_TERM:
            self.invalid = "fin.bad_term"
            return None
        self.invalid = None
        return amount, term

    def set_form(self, *, amount: str | None = None, term: str | None = None,
                 purpose: str | None = None) -> None:
        if amount is not None:
            self.amount_text = amount
        if term is not None:
            self.term_text = term
        if purpose is not None:
            self.purpose = purpose

    async def load(self) -> None:
        """The owner's applications (the form needs nothing from the server)."""
        apps = await self._run(lambda: self.client.applications())
        if apps is not None:
            self.applications = apps
            self.notify()

    async def match(self, default_purpose: str) -> None:
        values = self.parsed()
        if values is None:
            self.notify()
            return
        amount, term = values
        purpose = self.purpose.strip() or default_purpose
        self.matching = True
        self.notify()
        try:
            result = await self._act(lambda: self.client.match(amount, term, purpose))
        finally:
            self.matching = False
        if result is not None:
            self.result = result
        self.notify()

    def ask_apply(self, match: ProductMatch) -> None:
        self.pending, self.consent_ok = match, False
        self.notify()

    def set_consent(self, ok: bool) -> None:
        self.consent_ok = ok
        self.notify()

    def cancel_apply(self) -> None:
        self.pending, self.consent_ok = None, False
        self.notify()

    async def confirm_apply(self) -> Application | None:
        if self.pending is None or self.result is None or not self.consent_ok:
            return None
        match, result = self.pending, self.result
        self.submitting = True
        self.notify()
        try:
            created = await self._act(lambda: self.client.apply(
                [match.product.id], result.amount_yuan, result.term_months, result.purpose,
                confirm_consent=True))
        finally:
            self.submitting = False
        if created is None or not created.applications:
            return None
        self.just_created, self.pending = created, None
        self.applications = [*created.applications, *self.applications]
        await self.open_application(created.applications[0].id)
        return self.detail

    async def open_application(self, application_id: int) -> None:
        detail = await self._act(lambda: self.client.application(application_id))
        if detail is not None:
            self.detail = detail
            self.notify()

    def close_detail(self) -> None:
        self.detail = None
        self.notify()
