"""Each screen built from its state: the key controls are there, handlers reach the state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import flet as ft
import flet_charts as fch
import pytest

from mobile_app.i18n import Translator
from mobile_app.state import (
    CreditState,
    FinancingState,
    FirmOverviewState,
    InboxState,
    MemoryStore,
    MeState,
    PoliciesState,
    PortfolioState,
    ProspectsState,
    QueueState,
    SearchState,
    SessionState,
    WatchlistState,
)
from mobile_app.state.bank import PROSPECTS_PAGE
from mobile_app.state.me import RECORDS_PAGE
from mobile_app.views import (
    credit,
    financing,
    firm,
    login,
    me,
    messages,
    policies,
    portfolio,
    prospects,
    queue,
    search,
    watchlist,
)
from tests.integration.mobile_app.conftest import Api
from tests.unit.mobile_app.controls import find, keys, texts

pytestmark = pytest.mark.anyio
ZH, EN = Translator("zh"), Translator("en")


class Runner:
    """Collects the intents a view starts (and runs them when asked)."""

    def __init__(self) -> None:
        self.started: list[Awaitable[Any]] = []

    def __call__(self, work: Awaitable[Any]) -> None:
        self.started.append(work)

    async def drain(self) -> None:
        while self.started:
            await self.started.pop(0)

    def close(self) -> None:
        for w in self.started:
            if asyncio.iscoroutine(w):
                w.close()
        self.started.clear()


@pytest.fixture
def run() -> Any:
    runner = Runner()
    yield runner
    runner.close()


async def test_login_view(api: Api, run: Runner) -> None:
    session = SessionState(client=api.client(), store=MemoryStore())
    view = login.build(session, run)
    assert {"login.phone", "login.password", "login.submit", "login.toggle", "lang.switch"} <= keys(view)
    assert "登录" in texts(view)
    find(view, "login.phone").on_change(type("E", (), {"control": ft.TextField(value="13800000001")})())
    assert session.form["phone"] == "13800000001"
    find(view, "login.submit").on_click(None)
    assert len(run.started) == 1
    assert find(view, "login.password").password  # hidden, with a named eye button to show it
    redrawn: list[int] = []
    session.subscribe(lambda: redrawn.append(1))
    find(view, "login.reveal").on_click(None)
    view = login.build(session, run)
    assert redrawn and not find(view, "login.password").password
    assert find(view, "login.reveal").tooltip == "隐藏密码"
    find(view, "login.reveal").on_click(None)
    assert find(login.build(session, run), "login.password").password
    session.toggle_mode()
    session.error = "auth.need_phone"
    session.lang = "en"
    view = login.build(session, run)
    assert {"login.display_name", "login.role", "login.error"} <= keys(view)
    assert "Enter your mobile number and password" in texts(view)
    session.code_sent_to, session.error = "13912345678", None  # registration, step 2
    view = login.build(session, run)
    assert {"login.code", "login.code_sent", "login.submit"} <= keys(view)
    assert "login.password" not in keys(view) and "We sent a 6-digit code to 13912345678" in texts(view)
    find(view, "login.code").on_change(type("E", (), {"control": ft.TextField(value="123456")})())
    find(view, "login.submit").on_click(None)
    assert session.form["code"] == "123456" and len(run.started) == 2


async def test_credit_view(api: Api, run: Runner) -> None:
    state = CreditState(client=await api.signed_in("owner"), uscc=api.firm_uscc)
    assert find(credit.build(state, ZH, run), "state.loading")
    await state.load()
    view = credit.build(state, ZH, run)
    assert {"credit.grade_card", "credit.grade_letter", "credit.pd", "credit.radar", "credit.history",
            "credit.reasons", "credit.percentile", "credit.warnings"} <= keys(view)
    ev = state.evaluation
    assert f"信用等级 {ev.grade}" in texts(view) and f"信用分 {ev.score}" in texts(view)
    chart = find(view, "credit.radar")
    assert isinstance(chart, fch.RadarChart) and len(chart.titles) == 6
    pinned = [[e.value for e in s.entries] for s in chart.data_sets[:2]]
    assert pinned == [[0] * 6, [100] * 6]  # the scale is 0..100 whatever the firm's values
    assert [e.value for e in chart.data_sets[-1].entries] == [v for _, v, _ in state.radar]
    assert len(chart.data_sets) == 4  # with the industry average
    history = find(view, "credit.history")
    assert len(history.data_series[0].points) == len(ev.history)
    english = credit.build(state, EN, run)
    assert f"Credit grade {ev.grade}" in texts(english) and "Industry average" in texts(english)
    # the card states the data coverage and words the PD by the grade's own band
    assert ev.data_confidence is not None and ev.grade_band is not None and ev.grade_band.grade == ev.grade
    assert find(view, "credit.pd").value == ZH.pd_words(ev.pd, ev.grade_band)
    assert find(view, "credit.data_confidence").value.startswith("数据完整度：")
    assert ("credit.data_missing" in keys(view)) == bool(ev.data_confidence.missing)


def test_the_grade_card_names_missing_feeds() -> None:
    from dataclasses import replace

    from mobile_app.api.models import DataConfidence, Evaluation, Feed, GradeBand

    ev = Evaluation(uscc="x", name="某公司", as_of="2026-11-30", score=600, grade="C", pd=0.01, model_version="m",
                    dimensions={}, reasons=[], history=[],
                    grade_band=GradeBand(grade="C", pd_from=0.005, pd_to=0.03, score_from=536, score_to=640),
                    data_confidence=DataConfidence(share=0.6, level="medium", sources=5, reporting=3, missing=[
                        Feed("social_insurance", "社保医保参保", "Social and medical insurance", "人社部门", "hrss")]))
    card = credit.grade_card(ZH, ev)
    assert "中等；C级区间：千分之5至30" in find(card, "credit.pd").value
    assert find(card, "credit.data_missing").value.startswith("缺少：人社部门的社保医保参保")
    assert "credit.data_confidence" not in keys(credit.grade_card(ZH, replace(ev, data_confidence=None)))


def test_the_grade_card_says_how_far_the_data_can_be_believed() -> None:
    """Issue 15: the lowered data confidence and the disagreement, with its figures, on the card;
    coverage keeps its own level."""
    from mobile_app.api.models import DataConfidence, DataFinding, Evaluation

    finding = DataFinding(check="under_declaration",
                          text_zh="自2026年4月起纳税与用电、用工不一致：增值税同比-50%，用电量同比+0%，参保人数同比+0%，相差50%",
                          text_en="Tax and electricity disagree by 50% since April 2026: VAT -50% on a year earlier, "
                                  "electricity +0%, insured headcount +0%", plausibility=0.2,
                          figures={"tax_change": -0.5})
    ev = Evaluation(uscc="x", name="某公司", as_of="2026-11-30", score=600, grade="C", pd=0.01, model_version="m",
                    dimensions={}, reasons=[], history=[],
                    data_confidence=DataConfidence(share=1.0, level="low", coverage_level="high", sources=5,
                                                   reporting=5, departments=["hrss", "tax", "utilities"],
                                                   summary_zh="基于3个部门的数据", summary_en="Based on 3 departments",
                                                   findings=[finding]))
    card = credit.grade_card(ZH, ev)
    assert find(card, "credit.data_confidence").value == "数据完整度：高（5类主要数据中5类已报送）"
    assert find(card, "credit.data_trust").value == "数据可信度：低（基于3个部门的数据）"
    assert find(card, "credit.data_finding.under_declaration").value == finding.text_zh
    english = credit.grade_card(EN, ev)
    assert find(english, "credit.data_trust").value == "Data confidence: low (Based on 3 departments)"
    assert "disagree by 50% since April 2026" in find(english, "credit.data_finding.under_declaration").value


def test_an_owners_warning_names_its_records_and_each_can_be_disputed() -> None:
    from mobile_app.api.models import Warning

    w = Warning(id=1, uscc="91330000000000000X", level="yellow", title_zh="不动产全部抵押", detail=True,
                evidence={"figures": {}, "records": [
                    {"record_id": 4041, "kind": "seizure_mortgage", "event_date": "2022-02-16"},
                    {"record_id": 3963, "kind": "real_estate", "event_date": "2026-03-26"}]})
    disputed: list[int] = []
    tile = credit.warning_tile(ZH, w, key="credit.warning.0", dispute=disputed.append)
    assert "依据：查封抵押 2022-02-16" in texts(tile) and "依据：不动产 2026-03-26" in texts(tile)
    find(tile, "credit.warning.0.dispute.1").on_click(None)
    assert disputed == [3963]
    assert "credit.warning.0.dispute.0" not in keys(credit.warning_tile(ZH, w, key="credit.warning.0"))  # not the owner
    w.closed_at = "2026-12-01T00:00:00Z"  # a cleared warning: nothing left to dispute
    assert "credit.warning.0.dispute.0" not in keys(credit.warning_tile(ZH, w, key="credit.warning.0",
                                                                        dispute=disputed.append))


async def test_credit_view_empty_and_error(api: Api, run: Runner) -> None:
    unlinked = CreditState(client=api.client(), uscc=None)
    await unlinked.load()
    assert find(credit.build(unlinked, ZH, run), "credit.not_linked")
    failed = CreditState(client=api.client(), uscc=api.firm_uscc)
    failed.status, failed.error_kind, failed.error = "error", "offline", "down"
    view = credit.build(failed, ZH, run)
    assert "连接已断开，正在重连…" in texts(view)
    find(view, "state.error.retry").on_click(None)
    assert len(run.started) == 1


async def test_financing_view_flow(api: Api, run: Runner) -> None:
    state = FinancingState(client=await api.signed_in("owner"))
    await state.load()
    view = financing.build(state, ZH, run)
    assert {"fin.form", "fin.amount", "fin.term", "fin.purpose", "fin.match", "fin.applications"} <= keys(view)
    assert find(view, "fin.amount").value == "1000000"
    find(view, "fin.match").on_click(None)
    await run.drain()
    view = financing.build(state, ZH, run)
    assert {"fin.matched", "fin.product.0", "fin.product.0.apply"} <= keys(view)
    assert any(t.startswith("为您匹配到") for t in texts(view))
    if state.result.not_fitting:
        assert "fin.not_fit" in keys(view)
    find(view, "fin.product.0.apply").on_click(None)
    view = financing.build(state, EN, run)
    assert {"fin.confirm", "fin.confirm.consent", "fin.confirm.submit"} <= keys(view)
    assert find(view, "fin.confirm.submit").disabled
    state.set_consent(True)
    view = financing.build(state, EN, run)
    find(view, "fin.confirm.submit").on_click(None)
    await run.drain()
    view = financing.build(state, EN, run)
    assert {"fin.timeline", "fin.detail.status", "fin.timeline.0", "fin.submitted"} <= keys(view)
    # the timeline's words come from the server in the reader's language, money formatted
    assert any(x.endswith("Applied for ¥1,000,000 over 12 months") for x in texts(view)), texts(view)
    assert any(x.endswith("申请100万元，期限12个月") for x in texts(financing.build(state, ZH, run)))


async def test_financing_view_invalid(api: Api, run: Runner) -> None:
    state = FinancingState(client=api.client())
    state.status = "ready"
    state.set_form(amount="abc")
    await state.match("x")
    view = financing.build(state, ZH, run)
    assert find(view, "fin.invalid").value == "金额请输入1万至1亿元之间的整数"
    assert find(view, "fin.no_applications")


async def test_policies_view(api: Api, run: Runner) -> None:
    state = PoliciesState(client=await api.signed_in("owner"))
    await state.load()
    view = policies.build(state, ZH, run)
    assert "screen.policies" in keys(view)
    if state.matches.eligible:
        assert "pol.eligible.0" in keys(view)
    else:
        assert "pol.none" in keys(view)
    if state.matches.not_eligible:
        assert "pol.not_eligible.0" in keys(view)


async def test_messages_and_alerts_views(api: Api, run: Runner) -> None:
    state = InboxState(client=await api.signed_in("bank_manager"))
    assert find(messages.build(state, ZH, run, alerts=True), "state.loading")
    await state.load()
    state.receive({"id": 99_000_001, "kind": "risk", "level": "red", "title_zh": "贷款欠息超过30天",
                   "title_en": "Interest overdue over 30 days",
                   "body": {"firm_name": "青溪鑫泰精工机械有限公司", "grade": "C", "message_zh": "欠息45天",
                            "evidence": {"path_names": ["甲公司", "乙公司"]}},
                   "firm_uscc": api.firm_uscc, "created_at": "2031-01-01T00:00:00Z",
                   "updated_at": "2031-01-01T00:00:00Z", "read_at": None})
    view = messages.build(state, ZH, run, alerts=True)
    assert {"screen.alerts", "alerts.item.0", "alerts.item.0.read", "alerts.filter.red", "alerts.connection"} <= keys(view)
    assert "贷款欠息超过30天" in texts(view) and "传导路径：甲公司 → 乙公司" in texts(view)
    english = messages.build(state, EN, run)
    assert "Interest overdue over 30 days" in texts(english) and "msg.item.0" in keys(english)
    empty_state = InboxState(client=api.client())
    empty_state.status = "ready"
    assert find(messages.build(empty_state, ZH, run), "msg.empty")


async def test_me_view(api: Api, run: Runner) -> None:
    client = await api.signed_in("owner")
    session = SessionState(client=client, store=MemoryStore())
    session.me = await client.me()
    state = MeState(client=client, uscc=api.firm_uscc)
    await state.load()
    view = me.build(state, session, ZH, run, on_linked=lambda _: None)
    assert {"me.consents", "me.access_log", "me.objections", "me.objection.new", "me.settings",
            "me.sign_out", "me.lang"} <= keys(view)
    find(view, "me.objection.new").on_click(None)
    await run.drain()
    view = me.build(state, session, ZH, run, on_linked=lambda _: None)
    assert {"me.records", "me.record.0"} <= keys(view)
    if state.more_records:  # the next page is one tap away and is appended
        find(view, "me.records.more").on_click(None)
        await run.drain()
        view = me.build(state, session, ZH, run, on_linked=lambda _: None)
        assert f"me.record.{RECORDS_PAGE}" in keys(view)
    find(view, "me.record.0").on_click(None)
    view = me.build(state, session, ZH, run, on_linked=lambda _: None)
    assert {"me.objection_form", "me.objection.reason", "me.objection.submit"} <= keys(view)
    find(view, "me.objection.submit")  # filed through the state, then opened from the list
    record = next(r for r in state.records or [] if not r.has_open_objection)
    state.start_objection(record)
    assert await state.file_objection("日期有误")
    view = me.build(state, session, EN, run, on_linked=lambda _: None)
    find(view, "me.objection.0.open").on_click(None)
    await run.drain()
    view = me.build(state, session, EN, run, on_linked=lambda _: None)
    assert {"screen.me.trail", "me.trail.record", "me.trail.0", "me.trail.status"} <= keys(view)
    assert "Objection filed by the firm" in texts(view) and "Your reason: 日期有误" in texts(view)
    find(view, "me.trail.back").on_click(None)
    assert "screen.me" in keys(me.build(state, session, EN, run, on_linked=lambda _: None))
    unlinked = MeState(client=client, uscc=None)
    await unlinked.load()
    assert {"me.claim", "me.claim.uscc", "me.claim.send"} <= keys(
        me.build(unlinked, session, EN, run, on_linked=lambda _: None))
    assert "me.sign_out" in keys(me.build_settings(session, EN, run))


async def test_bank_views(api: Api, run: Runner) -> None:
    owner = await api.signed_in("owner")
    bank = await api.signed_in("bank_manager")
    bank_id = (await bank.me()).bank_id
    result = await owner.match(300_000, 12, "备货")
    product = next(m.product for m in result.fitting if m.product.bank_id == bank_id)
    await owner.apply([product.id], 300_000, 12, "备货", confirm_consent=True)

    q = QueueState(client=bank)
    await q.load()
    view = queue.build(q, ZH, run)
    assert {"screen.queue", "queue.item.0", "queue.item.0.open"} <= keys(view)
    find(view, "queue.item.0.open").on_click(None)
    await run.drain()
    view = queue.build(q, EN, run)
    assert {"queue.decision", "queue.amount", "queue.rate", "queue.term", "queue.approve", "queue.decline",
            "credit.grade_card", "credit.radar", "queue.warnings", "queue.exposure", "queue.exposure.this_bank",
            "queue.history", "queue.firm", "queue.firm.legal_rep", "fin.detail.purpose"} <= keys(view)
    assert q.detail is not None and f"Purpose: {q.detail.purpose}" in texts(view)
    assert q.profile is not None and q.profile.legal_representative in texts(view)

    p = PortfolioState(client=bank)
    await p.load()
    view = portfolio.build(p, ZH, run)  # the demo bank's post-loan book
    assert {"screen.portfolio", "book.head", "book.summary", "book.to_act", "portfolio.0", "portfolio.0.cover",
            "portfolio.0.grade"} <= keys(view)
    first = p.items[0]
    assert ("portfolio.0.path" in keys(view)) == first.detail and ("portfolio.0.no_consent" in keys(view)) != first.detail
    assert any(s.startswith("贷后跟踪：") for s in texts(view))
    assert any(s.startswith("Post-loan book: ") for s in texts(portfolio.build(p, EN, run)))

    pr = ProspectsState(client=bank)
    await pr.load()
    view = prospects.build(pr, ZH, run)
    assert {"prospects.keyword", "prospects.grade", "prospects.industry", "prospects.town", "prospects.sort",
            "prospects.item.0", "prospects.more"} <= keys(view)
    find(view, "prospects.more").on_click(None)  # the next page is appended
    await run.drain()
    assert f"prospects.item.{PROSPECTS_PAGE}" in keys(prospects.build(pr, ZH, run))
    view = prospects.build(pr, ZH, run)
    find(view, "prospects.grade.B").on_click(None)  # a filter's menu item screens on the server
    await run.drain()
    assert pr.grade == "B" and pr.results and all(f.grade == "B" for f in pr.results)
    assert "等级" in texts(prospects.build(pr, ZH, run)) and "B" in texts(prospects.build(pr, ZH, run))
    find(prospects.build(pr, ZH, run), "prospects.grade.all").on_click(None)
    await run.drain()
    assert pr.grade is None
    await pr.set_filter(town="没有企业的镇")
    assert find(prospects.build(pr, ZH, run), "prospects.empty")


async def test_subscriber_views(api: Api, run: Runner) -> None:
    client = await api.signed_in("subscriber")
    w = WatchlistState(client=client)
    await w.load()
    s = SearchState(client=client)
    assert "search.query" in keys(search.build(s, w, ZH, run))
    await s.search(api.firm_name[:4])
    view = search.build(s, w, ZH, run)
    assert "search.item.0" in keys(view)
    if "search.item.0.unwatch" in keys(view):  # the demo subscriber may watch it from the start
        find(view, "search.item.0.unwatch").on_click(None)
        await run.drain()
        view = search.build(s, w, ZH, run)
    find(view, "search.item.0.watch").on_click(None)
    await run.drain()
    view = watchlist.build(w, ZH, run)
    assert {"screen.watchlist", "watch.0", "watch.0.grade", "watch.0.unwatch"} <= keys(view)
    assert "watch.0.open" not in keys(view)  # no overview to open without the app's callback
    opened: list[str] = []
    view = watchlist.build(w, ZH, run, open_firm=opened.append)
    find(view, "watch.0.open").on_click(None)
    assert opened == [w.items[0].uscc]
    overview = FirmOverviewState(client=client)
    await overview.open(opened[0])
    view = firm.build(overview, ZH, run)
    assert {"screen.firm", "firm.back", "firm.grade", "firm.facts.legal_rep", "firm.facts.capital",
            "firm.facts.founded", "firm.warnings"} <= keys(view)
    assert overview.profile is not None and overview.profile.legal_representative in texts(view)
    assert "法定代表人" in texts(view) and "注册资本" in texts(view)
    assert "Legal rep." in texts(firm.build(overview, EN, run))
    find(view, "firm.back").on_click(None)
    assert not overview.is_open
    for item in list(w.items):  # the demo subscriber watches a few firms from the start
        await w.unwatch(item.uscc)
    assert find(watchlist.build(w, EN, run), "watch.empty")
    assert "watch.empty.action" not in keys(watchlist.build(w, EN, run))
    went: list[int] = []
    view = watchlist.build(w, EN, run, find_firms=lambda: went.append(1))
    assert find(view, "watch.empty.action").content == "Find firms to watch"  # what to do next
    find(view, "watch.empty.action").on_click(None)
    assert went == [1]
