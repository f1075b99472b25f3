"""Supported projects in the app (issue 15, must-show 4): the operator approves an application with
the project's terms, follows it in the department's portfolio, assesses and closes it; the owner
sees it under 我的项目 and reports on a milestone. States against the real API in-process, and
the screens built from them in Chinese and English."""

from __future__ import annotations

from typing import Any

import pytest

from mobile_app.i18n import Translator
from mobile_app.state import PoliciesState, PolicyQueueState, ProjectPortfolioState, ProjectsState
from mobile_app.views import office, policies, projects
from tests.integration.mobile_app.conftest import Api
from tests.integration.mobile_app.test_views import Runner
from tests.unit.mobile_app.controls import keys, texts

pytestmark = pytest.mark.anyio
ZH, EN = Translator("zh"), Translator("en")


@pytest.fixture
def run() -> Any:
    runner = Runner()
    yield runner
    runner.close()


async def test_a_project_from_approval_to_result_in_the_app(api: Api, run: Runner) -> None:
    operator, owner = await api.signed_in("dept_operator"), await api.signed_in("owner")
    published = await operator.request("POST", "/api/policies", json={"title": "技改项目补助（应用测试）"})
    await owner.apply_policy(published["id"])

    queue = PolicyQueueState(client=operator)
    await queue.load()
    i = next(i for i, a in enumerate(queue.items) if a.policy_id == published["id"])
    app_id = queue.items[i].id
    view = office.build_policy_queue(queue, ZH, run)
    assert {f"policy_queue.{i}.terms.{name}" for name in ("granted", "months", "jobs", "tax", "investment")} <= keys(view)
    queue.terms[app_id] = {"granted": "30万", "jobs": "5"}
    assert not await queue.decide(app_id, "approve")  # terms are whole numbers
    assert queue.invalid[app_id] == "office.bad_terms"
    queue.terms[app_id] = {"granted": "300,000", "months": "12", "jobs": "5", "investment": "800000"}
    assert await queue.decide(app_id, "approve")
    decided = next(a for a in queue.items if a.id == app_id)
    assert decided.status == "approved" and decided.project_id is not None
    assert f"policy_queue.{i}.project" in keys(office.build_policy_queue(queue, ZH, run))

    # the department's portfolio holds it, behind the switch of the policy tab
    portfolio = ProjectPortfolioState(client=operator)
    await portfolio.load()
    mine = next(p for p in portfolio.items if p.id == decided.project_id)
    assert mine.granted_yuan == 300_000 and [(o.metric, o.change) for o in mine.outcomes] == [
        ("jobs", 5), ("investment", 800_000)]
    assert portfolio.portfolio is not None and portfolio.portfolio.projects == len(portfolio.items)
    head = projects.switch(portfolio, ZH, queue.pending)
    shown = projects.build_portfolio(portfolio, ZH, run, head=head)
    assert {"screen.projects", "policy_tab.applications", "policy_tab.projects", "portfolio.summary",
            "portfolio.granted", "portfolio.on_track"} <= keys(shown)
    assert any("本部门项目" in s for s in texts(shown))
    assert any("The department's projects" in s for s in texts(projects.build_portfolio(portfolio, EN, run)))

    # the owner's 我的项目: the project, a self-evaluation of its first milestone
    mine_state, pol = ProjectsState(client=owner), PoliciesState(client=owner)
    await mine_state.load()
    await pol.load()
    k = next(n for n, p in enumerate(mine_state.items) if p.id == decided.project_id)
    screen = policies.build(pol, ZH, run, projects=mine_state)
    assert {"proj.mine", f"proj.{k}", f"proj.{k}.report", f"proj.{k}.outcome.jobs"} <= keys(screen)
    first = mine_state.items[k].milestones[0]
    mine_state.open_form(decided.project_id, first.seq)
    draft = mine_state.draft()
    draft.text, draft.score = "设备采购完成，正在招工", "120"
    assert not await mine_state.submit()
    assert mine_state.invalid == "proj.need_score"
    assert f"proj.{k}.form.invalid" in keys(policies.build(pol, EN, run, projects=mine_state))
    draft.score, draft.investment = "80", "500,000"
    assert await mine_state.submit()
    reported = next(p for p in mine_state.items if p.id == decided.project_id)
    assert reported.milestones[0].self_evaluation is not None and reported.milestones[0].self_evaluation.score == 80
    assert mine_state.form is None

    # the department assesses it, then closes it with its result
    await portfolio.load()
    n = next(n for n, p in enumerate(sorted(portfolio.items, key=lambda p: (
        p.closed_at is not None, -projects.STATUSES.index(p.status), p.id))) if p.id == decided.project_id)
    assert f"projects.{n}.assess" in keys(projects.build_portfolio(portfolio, ZH, run))
    portfolio.open_form(decided.project_id, first.seq)
    portfolio.draft().text, portfolio.draft().score = "投资属实", "70"
    portfolio.draft().assessor, portfolio.draft().investment = "某会计师事务所", "400000"
    assert await portfolio.submit()
    assessed = next(p for p in portfolio.items if p.id == decided.project_id)
    assert assessed.milestones[0].assessment is not None and assessed.milestones[0].assessment.assessor == "某会计师事务所"
    investment = next(o for o in assessed.outcomes if o.metric == "investment")
    assert investment.actual == 400_000  # the verified figure
    portfolio.start_close(decided.project_id)
    portfolio.close_text = "按期结项"
    assert await portfolio.close()
    closed = next(p for p in portfolio.items if p.id == decided.project_id)
    assert closed.closed_at is not None and closed.score is not None and closed.status in ("completed", "failed")
    n = next(n for n, p in enumerate(sorted(portfolio.items, key=lambda p: (
        p.closed_at is not None, -projects.STATUSES.index(p.status), p.id))) if p.id == decided.project_id)
    done = projects.build_portfolio(portfolio, ZH, run)
    assert f"projects.{n}.result" in keys(done) and f"projects.{n}.close" not in keys(done)
    assert any(f"结项评价 {closed.score}分" in s for s in texts(done))
    assert any(f"Result: {closed.score} points" in s for s in texts(projects.build_portfolio(portfolio, EN, run)))
