"""The bank manager's screens: the application queue and decisions, borrowers, prospects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mobile_app.api import ApiClient, ApiError, ConnectionLost
from mobile_app.api.models import (
    Application,
    BookLoan,
    FirmProfile,
    FirmTies,
    FirmWarnings,
    LoanBook,
)
from mobile_app.state.base import Loadable

__all__ = ["PortfolioState", "ProspectsState", "QueueState"]

GRADES = ("A", "B", "C", "D")
PROSPECTS_PAGE = 20  # firms per page of the prospects list
PROSPECT_SORTS = ("name", "capital", "founded")


@dataclass(kw_only=True)
class QueueState(Loadable):
    client: ApiClient
    items: list[Application] = field(default_factory=list)
    detail: Application | None = None
    invalid: str | None = None
    deciding: bool = False
    draft: dict[str, str] = field(default_factory=dict)  # the decision form as typed
    profile: FirmProfile | None = None  # the open application's firm: public facts
    warnings: FirmWarnings | None = None  # and its warnings (detail under consent)
    ties: FirmTies | None = None  # its guarantee circle (under consent)

    async def load(self) -> None:
        items = await self._run(lambda: self.client.applications(status="pending"))
        if items is not None:
            self.items = items
            self.notify()

    async def open(self, application_id: int) -> None:
        """The application with what a decision needs: the evaluation, exposure and history
        (under consent), and the firm's public profile and warnings, open and cleared."""
        detail = await self._act(lambda: self.client.application(application_id))
        if detail is not None:
            self.detail, self.invalid = detail, None
            self.draft = {"amount": str(detail.amount_yuan), "term": str(detail.term_months),
                          "rate": "", "reason": ""}
            self.profile, self.warnings, self.ties = None, None, None
            await self._firm(detail.firm_uscc)
        self.notify()

    async def _firm(self, uscc: str) -> None:
        try:
            self.profile, self.warnings = await asyncio.gather(
                self.client.firm(uscc), self.client.firm_warnings(uscc, status="all"))
        except (ApiError, ConnectionLost):
            pass  # the application itself is still worth showing; the error is not the decision's
        try:
            self.ties = await self.client.ties(uscc)
        except (ApiError, ConnectionLost):
            self.ties = None  # no consent (any more), or the picture failed: the rest stands

    async def refresh_firm(self, uscc: str) -> None:
        """A push about the open application's firm: its warnings and grade, quietly."""
        if self.detail is not None and self.detail.firm_uscc == uscc:
            await self._firm(uscc)
            self.notify()

    def close(self) -> None:
        self.detail, self.invalid, self.profile, self.warnings, self.ties = None, None, None, None, None
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


@dataclass(kw_only=True)
class PortfolioState(Loadable):
    """The bank's post-loan book: its live loans since each was granted, those to act on first."""

    client: ApiClient
    book: LoanBook | None = None

    @property
    def items(self) -> list[BookLoan]:
        return self.book.items if self.book is not None else []

    async def load(self) -> None:
        await self._run(self.client.loan_book, lambda book: setattr(self, "book", book))


@dataclass(kw_only=True)
class ProspectsState(Loadable):
    """Screen firms by public fields on the server: name fragment, grade, industry section and
    town, sorted by name, registered capital or founding date, a page at a time."""

    client: ApiClient
    keyword: str = ""
    grade: str | None = None
    industry: str | None = None
    town: str | None = None
    sort: str = "name"
    found: list[FirmProfile] = field(default_factory=list)
    has_more: bool = False
    seen_towns: set[str] = field(default_factory=set)  # the filter's choices: every town seen
    seen_industries: set[str] = field(default_factory=set)

    @property
    def results(self) -> list[FirmProfile]:
        return self.found

    @property
    def towns(self) -> list[str]:
        return sorted(self.seen_towns | ({self.town} if self.town else set()))

    @property
    def industries(self) -> list[str]:
        return sorted(self.seen_industries | ({self.industry} if self.industry else set()))

    async def load(self) -> None:
        await self.search()

    def _page(self, offset: int):  # type: ignore[no-untyped-def]
        return lambda: self.client.search_firms(
            self.keyword.strip() or None, limit=PROSPECTS_PAGE, grade=self.grade, industry=self.industry,
            town=self.town, sort=self.sort, offset=offset)

    def _took(self, page: list[FirmProfile]) -> None:
        self.has_more = len(page) == PROSPECTS_PAGE
        self.seen_towns |= {f.town for f in page if f.town}
        self.seen_industries |= {f.industry_section for f in page if f.industry_section}

    async def search(self, keyword: str | None = None) -> None:
        """The first page for the keyword and filters."""
        if keyword is not None:
            self.keyword = keyword
        found = await self._run(self._page(0))
        if found is not None:
            self.found = found
            self._took(found)
            self.notify()

    async def more(self) -> None:
        """The next page, after the firms already listed."""
        page = await self._act(self._page(len(self.found)))
        if page is not None:
            known = {f.uscc for f in self.found}
            self.found += [f for f in page if f.uscc not in known]
            self._took(page)
        self.notify()

    async def set_filter(self, *, grade: str | None = ..., industry: str | None = ...,  # type: ignore[assignment]
                         town: str | None = ..., sort: str | None = None) -> None:  # type: ignore[assignment]
        """Change filters or the order; the list is fetched again from its first page."""
        if grade is not ...:
            self.grade = grade or None
        if industry is not ...:
            self.industry = industry or None
        if town is not ...:
            self.town = town or None
        if sort:
            self.sort = sort
        await self.search()
