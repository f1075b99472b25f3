"""Supported projects: the owner's (self-evaluations at milestones) and the department's
portfolio (assessments, the result evaluation that closes a project)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mobile_app.api import ApiClient
from mobile_app.api.models import Project, ProjectPortfolio
from mobile_app.state.base import Loadable, whole_number

__all__ = ["ProjectPortfolioState", "ProjectsState", "ReportDraft"]


@dataclass
class ReportDraft:
    """A report as typed: the text, the score (0-100), an investment figure, the assessor."""

    text: str = ""
    score: str = ""
    investment: str = ""
    assessor: str = ""


@dataclass(kw_only=True)
class _Reports(Loadable):
    """Report forms per (project, milestone): one open at a time, checked before sending."""

    client: ApiClient
    drafts: dict[tuple[int, int], ReportDraft] = field(default_factory=dict)
    form: tuple[int, int] | None = None
    invalid: str | None = None  # catalogue key of what is wrong with the open form
    sending: bool = False

    def open_form(self, project_id: int, milestone: int) -> None:
        self.form, self.invalid = (project_id, milestone), None
        self.drafts.setdefault(self.form, ReportDraft())
        self.notify()

    def cancel(self) -> None:
        self.form, self.invalid = None, None
        self.notify()

    def draft(self) -> ReportDraft:
        assert self.form is not None
        return self.drafts.setdefault(self.form, ReportDraft())

    def _checked(self) -> tuple[str, int, int | None] | None:
        d = self.draft()
        score = whole_number(d.score)
        investment = whole_number(d.investment) if d.investment.strip() else None
        if len(d.text.strip()) < 2:
            self.invalid = "proj.need_text"
        elif score is None or score > 100:
            self.invalid = "proj.need_score"
        elif d.investment.strip() and investment is None:
            self.invalid = "proj.bad_investment"
        else:
            self.invalid = None
            return d.text.strip(), score, investment
        self.notify()
        return None

    def _replace(self, project: Project) -> None:  # overridden: where the states keep projects
        raise NotImplementedError

    async def _send(self, call) -> bool:  # noqa: ANN001 - a coroutine factory
        self.sending = True
        self.notify()
        try:
            done = await self._act(call)
        finally:
            self.sending = False
        if done is not None:
            self._replace(done)
            if self.form is not None:
                self.drafts.pop(self.form, None)
            self.form = None
        self.notify()
        return done is not None


@dataclass(kw_only=True)
class ProjectsState(_Reports):
    """The owner's firm's projects: promises against the data, deviations, milestones."""

    items: list[Project] = field(default_factory=list)

    async def load(self) -> None:
        await self._run(self.client.projects, lambda items: setattr(self, "items", items))

    def _replace(self, project: Project) -> None:
        self.items = [project if p.id == project.id else p for p in self.items]

    async def submit(self) -> bool:
        """Send the open self-evaluation form."""
        if self.form is None or (checked := self._checked()) is None:
            return False
        (pid, seq), (text, score, investment) = self.form, checked
        return await self._send(lambda: self.client.self_evaluate(pid, seq, text, score, investment))


@dataclass(kw_only=True)
class ProjectPortfolioState(_Reports):
    """The department's projects: by status, money granted, outcomes; assess, close."""

    portfolio: ProjectPortfolio | None = None
    shown: bool = False  # the operator's policy tab shows the projects (else the applications)
    closing: int | None = None  # the project whose result evaluation is being confirmed
    close_text: str = ""

    @property
    def items(self) -> list[Project]:
        return self.portfolio.items if self.portfolio is not None else []

    @property
    def behind(self) -> int:
        return sum(1 for p in self.items if p.status in ("behind", "failed") and p.closed_at is None)

    async def load(self) -> None:
        await self._run(self.client.project_portfolio, lambda p: setattr(self, "portfolio", p))

    def _replace(self, project: Project) -> None:
        if self.portfolio is not None:
            self.portfolio.items = [project if p.id == project.id else p for p in self.portfolio.items]

    async def submit(self) -> bool:
        """Send the open assessment form; the totals are read again."""
        if self.form is None or (checked := self._checked()) is None:
            return False
        (pid, seq), (text, score, investment) = self.form, checked
        assessor = self.draft().assessor.strip()
        done = await self._send(lambda: self.client.assess_project(pid, seq, text, score, assessor, investment))
        if done:
            await self.refresh()
        return done

    def show(self, projects: bool) -> None:
        self.shown = projects
        self.notify()

    def start_close(self, project_id: int) -> None:
        self.closing, self.close_text = project_id, ""
        self.notify()

    def cancel_close(self) -> None:
        self.closing = None
        self.notify()

    async def close(self) -> bool:
        """The result evaluation of the project being confirmed."""
        if self.closing is None:
            return False
        pid, text = self.closing, self.close_text.strip()
        done = await self._send(lambda: self.client.close_project(pid, text))
        if done:
            self.closing = None
            await self.refresh()
        return done

    async def refresh(self) -> None:
        """Read the portfolio again without the loading state (totals after an action)."""
        fresh = await self._act(self.client.project_portfolio)
        if fresh is not None:
            self.portfolio = fresh
            self.notify()
