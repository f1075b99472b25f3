"""The bank manager's screens: the application queue and decisions, borrowers, prospects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mobile_app.api import ApiClient, ApiError, ConnectionLost
from mobile_app.api.models import Application, FirmProfile, Warning
from mobile_app.state.base import Loadable

__all__ = ["PortfolioState", "ProspectsState", "QueueState", "Borrower"]

GRADES = ("A", "B", "C", "D")
BROAD_QUERY = "公司"  # every registered firm name has it; the search needs some fragment


@dataclass(kw_only=True)
class QueueState(Loadable):
    client: ApiClient
    items: list[Application] = field(default_factory=list)
    detail: Application | None = None
    invalid: str | None = None
    deciding: bool = False
    draft: dict[str, str] = field(default_factory=dict)  # the decision form as typed

    async def load(self) -> None:
        items = await self._run(lambda: self.client.applications(status="pending"))
        if items is not None:
            self.items = items
            self.notify()

    async def open(self, application_id: int) -> None:
        detail = await self._act(lambda: self.client.application(application_id))
        if detail is not None:
            self.detail, self.invalid = detail, None
            self.draft = {"amount": str(detail.amount_yuan), "term": str(detail.term_months),
                          "rate": "", "reason": ""}
        self.notify()

    def close(self) -> None:
        self.detail, self.invalid = None, None
        self.notify()

    async def approve(self, amount_text: str, rate_text: str, term_text: str) -> bool:
        if self.detail is None:
            return False
        try:
            amount = int(amount_text.replace(",", "").strip())
            term = int(term_text.strip())
        except ValueError:
            self.invalid = "fin.bad_amount"
            self.notify()
            return False
        try:
            rate_bp = round(float(rate_text.strip()) * 100)
        except ValueError:
            rate_bp = -1
        if not 50 <= rate_bp <= 2400:
            self.invalid = "bank.bad_rate"
            self.notify()
            return False
        app_id = self.detail.id
        return await self._decide(lambda: self.client.decide(
            app_id, "approve", amount_yuan=amount, rate_bp=rate_bp, term_months=term))

    async def decline(self, reason: str) -> bool:
        if self.detail is None:
            return False
        if len(reason.strip()) < 2:
            self.invalid = "bank.reason_required"
            self.notify()
            return False
        app_id = self.detail.id
        return await self._decide(lambda: self.client.decide(
            app_id, "decline", reason_code="other", reason_text=reason.strip()))

    async def _decide(self, call) -> bool:  # type: ignore[no-untyped-def]
        self.deciding, self.invalid = True, None
        self.notify()
        try:
            decided = await self._act(call)
        finally:
            self.deciding = False
        if decided is None:
            return False
        self.detail = decided
        self.items = [a for a in self.items if a.id != decided.id]
        self.notify()
        return True


@dataclass
class Borrower:
    uscc: str
    name: str
    grade: str | None
    loans: list[Application]
    warnings: list[Warning] = field(default_factory=list)

    @property
    def outstanding_yuan(self) -> int:
        return sum(a.approved_amount_yuan or 0 for a in self.loans)


@dataclass(kw_only=True)
class PortfolioState(Loadable):
    client: ApiClient
    borrowers: list[Borrower] = field(default_factory=list)

    async def load(self) -> None:
        loans = await self._run(lambda: self.client.applications(status="approved"))
        if loans is None:
            return
        by_firm: dict[str, list[Application]] = {}
        for loan in loans:
            by_firm.setdefault(loan.firm_uscc, []).append(loan)

        async def enrich(uscc: str, items: list[Application]) -> Borrower:
            grade: str | None = items[0].grade_at_apply
            warnings: list[Warning] = []
            try:
                grade = (await self.client.firm(uscc)).grade or grade
                warnings = [w for w in (await self.client.firm_warnings(uscc)).warnings if w.status == "open"]
            except (ApiError, ConnectionLost):
                pass  # the grade at application time and no warnings are still worth showing
            return Borrower(uscc, items[0].firm_name, grade, items, warnings)

        self.borrowers = list(await asyncio.gather(*(enrich(u, ls) for u, ls in by_firm.items())))
        self.notify()


@dataclass(kw_only=True)
class ProspectsState(Loadable):
    """Screen firms by public fields: name fragment, grade, industry section, town."""

    client: ApiClient
    keyword: str = ""
    grade: str | None = None
    industry: str | None = None
    town: str | None = None
    found: list[FirmProfile] = field(default_factory=list)

    @property
    def results(self) -> list[FirmProfile]:
        return [f for f in self.found
                if (self.grade is None or f.grade == self.grade)
                and (self.industry is None or f.industry_section == self.industry)
                and (self.town is None or f.town == self.town)]

    @property
    def towns(self) -> list[str]:
        return sorted({f.town for f in self.found if f.town})

    @property
    def industries(self) -> list[str]:
        return sorted({f.industry_section for f in self.found if f.industry_section})

    async def load(self) -> None:
        await self.search()

    async def search(self, keyword: str | None = None) -> None:
        if keyword is not None:
            self.keyword = keyword
        q = self.keyword.strip() or BROAD_QUERY
        found = await self._run(lambda: self.client.search_firms(q, limit=100))
        if found is not None:
            self.found = found
            self.notify()

    def set_filter(self, *, grade: str | None = ..., industry: str | None = ...,  # type: ignore[assignment]
                   town: str | None = ...) -> None:  # type: ignore[assignment]
        if grade is not ...:
            self.grade = grade or None
        if industry is not ...:
            self.industry = industry or None
        if town is not ...:
            self.town = town or None
        self.notify()
