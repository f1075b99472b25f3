"""The 信宝 app's back office in real Chromium (helpers and fixtures: tests/e2e/browser.py,
conftest.py): every role's real task at phone and desktop widths (issue 13), and the analyst's
index and annual report (issue 14), on a demo of their own beside test_app_browser.py's.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import (
    ADMIN,
    ALLOWED,
    BANK,
    MIN_TOUCH_PX,
    OPERATOR,
    OWNER,
    SUBSCRIBER,
    Demo,
    _call,
    _desktop,
    _feed_with_bad_rows,
    _page,
    _sign_in,
    _sign_out,
    _wait_for,
)


@pytest.mark.slow
def test_back_office_and_every_role_at_phone_and_desktop_widths(demo: Demo, chromium: Any,
                                                                 tmp_path: Path) -> None:
    """Issue 13 must-show 1. The department operator sends a feed with bad rows and sees them
    listed (360 px, zh then en); the admin revises a weight profile, reads its preview, trains
    a model and promotes it (1,280 px, en then zh), raises the fund's limit, adds a bank and
    lists a product, and reads both in the audit log; the subscriber watches a firm; the owner's
    and bank manager's first screens at 1,280 px. Screenshots: tests/e2e/screens/13_*.png."""
    t0 = time.monotonic()
    feed, source, good = _feed_with_bad_rows(demo, tmp_path)

    # -- the department operator, on a phone -------------------------------------------------
    b = _page(chromium, 360, 780)  # the narrowest common phone
    try:
        b.open_at_sign_in(demo.app)
        _sign_in(b, OPERATOR, zh=True)
        b.text("上报部门数据")
        b.text(re.compile(rf"\({source}\)"))
        b.shot("13_operator_upload_zh_360")
        b.choose_file("选择文件并上报", feed)
        b.text("逐行校验结果", timeout=60_000)
        b.text(re.compile(r"^第 2 行 · "))  # the bad rows, each with its field and why
        b.text(re.compile(r"^第 5 行 · "))
        b.text("下载被拒行（CSV）")
        b.shot("13_operator_report_zh_360")
        batches = _call("GET", f"{demo.api}/api/ingest/batches", token=demo.token(OPERATOR))
        newest = batches[0]
        assert newest["rejected"] == 2 and newest["accepted"] + newest["duplicates"] == good, newest
        b.switch_language("English", "Row-by-row report")
        b.text(re.compile(r"^Row 2 · "))
        b.shot("13_operator_report_en_360")
        b.scroll_to(f"Batch {newest['id']}")  # the department's batches, below the report
        b.to_top("Your department's batches")
        b.text(re.compile(r"^Feed health \("))  # coverage, timeliness, rejected rows (issue 15)
        b.text(re.compile(r"^Rejected rows, last 90 days: "))
        b.shot("13_operator_batches_en_360")
        b.click_until("tab", re.compile("^Objections"), re.compile("Objections to your department|No objections"))
        b.shot("13_operator_objections_en_360")
        b.click_until("tab", re.compile("^Policy apps"), re.compile("Applications for your department|No applications"))
        b.shot("13_operator_policy_queue_en_360")
        # the supported projects those approvals opened (issue 15): the portfolio, then each project
        b.click_until("checkbox", re.compile(r"^Projects \(\d+\)"), re.compile(r"^The department's projects \(\d+\)"))
        b.text(re.compile(r"^Granted in all: ¥"))
        b.text(re.compile(r"^As of \d{4}-\d{2}: \d+% of the plan due"))
        b.shot("15_operator_projects_en_360")
        _sign_out(b, zh=False)
        # the admin's banks and audit log fit a phone too
        _sign_in(b, ADMIN, zh=False)
        b.click_until("tab", re.compile("^Manage"), "Open an account")
        b.click_until("button", "Banks", re.compile(r"^Partner banks \(\d+\)"))
        b.shot("13_admin_banks_en_360")
        b.click_until("button", "Audit log", re.compile(r"^Audit log \(\d+ entries\)"))
        b.shot("13_admin_audit_en_360")
        _sign_out(b, zh=False)
        assert not b.unlabeled, f"controls without a name: {b.unlabeled}"
        assert not b.small, f"touch targets under {MIN_TOUCH_PX} px: {b.small}"
    finally:
        b.page.context.close()

    # -- the admin, on a desktop -------------------------------------------------------------
    d = _desktop(chromium)
    try:
        d.open_at_sign_in(demo.app)
        d.switch_language("English", "Sign in")
        _sign_in(d, ADMIN, zh=False)
        d.text("Weight profiles")
        d.click("button", "New profile")
        d.fill("Profile name", "E2E restart season")
        d.fill("Reason for the change", "firms restarting after the holiday")
        d.fill("Capital dimension factor", "0.5")
        d.click("button", "Preview")
        summary = d.text(re.compile(r"^\d+ of \d+ firms change grade"), timeout=60_000)
        assert re.match(r"^\d+ of \d+ firms change grade", summary.inner_text() or summary.text_content())
        d.shot("13_admin_preview_en_1280")
        d.click("button", "Save profile", scroll=True)
        d.text(re.compile("^Weight profile .E2E restart season. saved"), timeout=30_000)
        d.shot("13_admin_profiles_en_1280")

        d.click_until("tab", re.compile("^Models"), "Train a new model")
        before = {v["version"] for v in _call("GET", f"{demo.api}/api/models", token=demo.token(ADMIN))}
        d.click("button", "Start training")
        d.text(re.compile(r"^Trained .* awaiting review"), timeout=240_000)
        versions = _call("GET", f"{demo.api}/api/models", token=demo.token(ADMIN))
        new = next(v for v in versions if v["version"] not in before)
        assert new["awaiting_confirmation"] and not new["active"], new
        d.shot("13_admin_trained_en_1280")
        d.click("button", "Promote this version")
        promoted, confirm = re.compile("^Promoted"), re.compile("^This version changes the grade")
        _wait_for("promoted, or asked to confirm", lambda: d.page.get_by_text(promoted).count()
                  or d.page.get_by_text(confirm).count())
        if not d.page.get_by_text(promoted).count():  # it moves many grades: say yes once more
            d.click("button", "Yes, promote")
        d.text(re.compile("^Promoted"), timeout=30_000)
        active = next(v for v in _call("GET", f"{demo.api}/api/models", token=demo.token(ADMIN)) if v["active"])
        assert active["version"] == new["version"]
        d.shot("13_admin_promoted_en_1280")
        d.switch_language("简体中文", "模型版本")
        d.shot("13_admin_models_zh_1280")
        d.click_until("tab", re.compile("^基金"), "资金台账")
        d.shot("13_admin_fund_zh_1280")
        fund = _call("GET", f"{demo.api}/api/fund", token=demo.token(ADMIN))
        d.click_until_box("button", "调整参数", "担保总额上限")
        d.fill("担保总额上限", str(fund["limit_total_fen"] // 100 + 5_000_000))
        d.fill("调整原因", "区财政追加担保额度")
        d.shot("13_admin_fund_form_zh_1280")
        d.click_until("button", "保存参数", re.compile("^已保存担保基金参数"), scroll=True)
        assert _call("GET", f"{demo.api}/api/fund", token=demo.token(ADMIN))["limit_total_fen"] == \
            fund["limit_total_fen"] + 500_000_000
        d.click_until("tab", re.compile("^管理"), "开通账户")
        d.shot("13_admin_accounts_zh_1280")
        d.click_until("button", "银行与产品", re.compile("^合作银行"))
        d.click_until_box("button", "添加银行", "银行代码（大写字母、数字）")
        d.fill("银行代码（大写字母、数字）", "E2EBANK")
        d.fill("银行名称", "端到端村镇银行")
        d.click_until("button", "保存", re.compile("^已添加银行"))
        d.click_until_box("button", "为端到端村镇银行上架产品", "产品名称")
        d.fill("产品名称", "端到端信用贷")
        d.click_until("button", "保存", re.compile("^已上架产品"), scroll=True)
        banks = {b["code"]: b for b in _call("GET", f"{demo.api}/api/banks", token=demo.token(ADMIN))}
        assert [p["name"] for p in banks["E2EBANK"]["products"]] == ["端到端信用贷"], banks["E2EBANK"]
        d.to_top(re.compile("^已上架产品"))
        d.shot("13_admin_banks_zh_1280")
        d.click_until("button", "审计日志", re.compile(r"^审计日志（共 \d+ 条）"))
        d.text("上架产品")
        d.text("修改担保基金参数")
        d.shot("13_admin_audit_zh_1280")
        d.switch_language("English", re.compile(r"^Audit log \(\d+ entries\)"))
        d.text("Changed the guarantee fund")
        d.shot("13_admin_audit_en_1280")
        d.switch_language("简体中文", re.compile(r"^审计日志（共"))
        _sign_out(d, zh=True)

        # -- the subscriber watches a firm (desktop, zh) ---------------------------------------
        _sign_in(d, SUBSCRIBER, zh=True)
        d.click_until("tab", re.compile("^查询"), "查询")
        target = _call("GET", f"{demo.api}/api/firms?limit=50", token=demo.token(SUBSCRIBER))
        target = target["items"] if isinstance(target, dict) else target
        watched = {s["uscc"] for s in _call("GET", f"{demo.api}/api/subscriptions",
                                                  token=demo.token(SUBSCRIBER))}
        firm = next(f for f in target if f["uscc"] not in watched)
        follow = d.page.get_by_role("button", name=re.compile("^关注$")).first  # on the firm's row
        for attempt in range(3):  # typing lost to a redraw (a pushed badge) leaves the box empty
            d.fill("查询企业", firm["uscc"])
            d.click("button", "搜索")
            try:
                follow.wait_for(timeout=12_000)
                break
            except Exception:
                if attempt == 2:
                    raise
        follow.dispatch_event("click")
        _wait_for("the subscription", lambda: firm["uscc"] in {
            s["uscc"] for s in _call("GET", f"{demo.api}/api/subscriptions", token=demo.token(SUBSCRIBER))})
        d.page.get_by_role("button", name=re.compile("^取消关注$")).first.wait_for(timeout=15_000)  # the row says so
        d.shot("13_subscriber_watch_zh_1280")
        _sign_out(d, zh=True)

        # -- the owner's and the bank manager's first screens at desktop width ----------------
        _sign_in(d, OWNER, zh=True)
        d.text(re.compile("^信用等级 [ABCD]"))
        d.shot("13_owner_credit_zh_1280")
        _sign_out(d, zh=True)
        _sign_in(d, BANK, zh=True)
        d.text(re.compile("实时推送|预警"))
        d.shot("13_bank_alerts_zh_1280")
        _sign_out(d, zh=True)
        assert not d.unlabeled, f"controls without a name: {d.unlabeled}"
        outside = d.outside_requests()
        assert all(ALLOWED.match(u) for u in outside), f"requests left 127.0.0.1: {outside}"
    finally:
        d.page.context.close()
    print(f"back office took {time.monotonic() - t0:.1f} s")


ANALYST = "13800000006"


def test_the_analyst_drills_the_index_and_downloads_the_annual_report(demo: Demo, chromium: Any) -> None:
    """Issue 14 must-show 3. The analyst signs in on a phone, reads the region's credit index,
    opens one industry and one town (each drawn against the region), and downloads the last full
    year's report (a real PDF through the browser's download). Screenshots:
    tests/e2e/screens/14_*.png."""
    token = demo.token(ANALYST)
    by_town = _call("GET", f"{demo.api}/api/reports/credit-index?by=town", token=token)
    town = max((s for s in by_town["series"] if s["points"]), key=lambda s: s["points"][-1]["index"])["group"]

    b = _page(chromium, 390, 844)
    try:
        b.open_at_sign_in(demo.app)
        _sign_in(b, ANALYST, zh=True)
        b.text("区域信用指数")
        b.text(re.compile(r"以 \d\d/\d\d 为基期"))
        b.shot("14_analyst_index_zh_390")
        b.click_until("button", re.compile("^制造业"), re.compile(r"家企业 · 指数 \d+\.\d"), scroll=True)
        b.text("全区")  # the legend: the industry's line against the region's
        b.shot("14_analyst_industry_zh_390")
        b.click_until("checkbox", re.compile("^乡镇街道"), re.compile(rf"^{re.escape(town)}"), scroll=True)
        b.click_until("button", re.compile(rf"^{re.escape(town)}"), re.compile(r"家企业 · 指数 \d+\.\d"), scroll=True)
        b.shot("14_analyst_town_zh_390")
        b.check_labels("analyst index")

        # 专题: the region's industries, one industry's divisions, then the towns, one opened
        b.click_until("tab", re.compile("^专题"), "专题分析")
        b.text("C/D级企业占比（%，从高到低）")
        b.shot("14_analyst_thematic_zh_390")
        b.click_until("button", re.compile("^制造业"), "行业大类", scroll=True)
        b.text("制造业的乡镇分布")
        b.shot("14_analyst_thematic_industry_zh_390")
        b.click_until("checkbox", re.compile("^乡镇街道"), "各乡镇街道", up=True)
        b.click_until("button", re.compile(rf"^{re.escape(town)}"), re.compile(r"^参保人数"), scroll=True)
        b.shot("14_analyst_thematic_town_zh_390")
        b.click_until("checkbox", re.compile("^资源利用"), re.compile("每万元纳税"), up=True)
        b.shot("14_analyst_resources_zh_390")
        b.check_labels("analyst thematic")

        year = time.gmtime().tm_year - 1
        b.click_until("tab", re.compile("^报告"), f"{year}年度")
        b.shot("14_analyst_reports_zh_390")
        with b.page.expect_download(timeout=180_000) as download:
            b.click("button", "下载中文版")
        path = download.value.path()
        assert path is not None
        pdf = Path(path).read_bytes()
        assert pdf.startswith(b"%PDF-") and len(pdf) > 50_000, len(pdf)
        assert download.value.suggested_filename == f"xinbao-credit-index-{year}-zh.pdf"
        b.text(f"{year}年度报告已下载")
        b.shot("14_analyst_report_saved_zh_390")
        assert not b.unlabeled, f"controls without a name: {b.unlabeled}"
        assert not b.small, f"touch targets under {MIN_TOUCH_PX} px: {b.small}"
    finally:
        b.page.context.close()
