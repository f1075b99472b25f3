"""The back office in the app (issue 13): the department operator and the admin, their states
against the real API in-process, and their screens built from those states."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mobile_app.i18n import Translator
from mobile_app.state import (
    AccountsState,
    BatchesState,
    FundState,
    ModelsState,
    ObjectionQueueState,
    PolicyQueueState,
    UploadState,
    WeightsState,
)
from mobile_app.state.office import feed_format
from mobile_app.views import admin, office
from tests.integration.mobile_app.conftest import Api
from tests.integration.mobile_app.test_views import Runner
from tests.unit.mobile_app.controls import find, keys, texts

pytestmark = pytest.mark.anyio
ZH, EN = Translator("zh"), Translator("en")


@pytest.fixture
def run() -> Any:
    runner = Runner()
    yield runner
    runner.close()


async def _saved(name: str, data: bytes) -> None:
    _saved.files[name] = data  # type: ignore[attr-defined]


_saved.files = {}  # type: ignore[attr-defined]


def _feed(state: UploadState, uscc: str, folder: Path, bad_rows: set[int]) -> Path:
    """A CSV of the chosen feed: a valid value per column type, a broken USCC in ``bad_rows``."""
    source = next(s for s in state.sources if s.code == state.source)
    values = {"key": "UNIT-{n}", "uscc": uscc, "date": "2026-10-01", "money": "1200.50", "int": "2",
              "number": "1.5", "text": "unit"}
    lines = [",".join(f.name for f in source.fields)]
    for n in range(5):
        cells = []
        for f in source.fields:
            cell = f.choices[0] if f.type == "enum" else values.get(f.type, "x").format(n=n)
            if f.type == "uscc" and n + 1 in bad_rows:
                cell = "91330000XXXXXXXXX0"
            cells.append(cell)
        lines.append(",".join(cells))
    path = folder / "feed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_operator_sends_a_feed_and_reads_the_report_and_batches(api: Api, run: Runner, tmp_path: Path) -> None:
    client = await api.signed_in("dept_operator")
    up = UploadState(client=client)
    await up.load()
    assert up.sources and up.source == up.sources[0].code
    empty_batches = BatchesState(client=client)
    view = office.build_feeds(up, empty_batches, ZH, run, pick=lambda: None, save=_saved)
    assert {"screen.upload", "upload.source", "upload.pick", "upload.columns"} <= keys(view)

    path = _feed(up, api.firm_uscc, tmp_path, bad_rows={2, 4})
    up.started(path.name, path.stat().st_size)
    assert up.busy and "upload.progress" in keys(office.build_feeds(up, empty_batches, ZH, run, pick=lambda: None,
                                                                    save=_saved))
    report = await up.send(path.name, path)
    assert report is not None and up.phase == "done"
    assert report.rows == 5 and report.rejected_rows == 2 and report.accepted + report.duplicates == 3
    assert sorted(r.row for r in report.rejected) == [2, 4]
    view = office.build_feeds(up, empty_batches, ZH, run, pick=lambda: None, save=_saved)
    assert {"upload.report", "report.rejected.0", "report.rejected.1", "report.download"} <= keys(view)
    zh_rows = [x for x in texts(view) if x.startswith("第 ")]
    assert any(x.startswith("第 2 行 · ") for x in zh_rows)
    en_rows = [x for x in texts(office.build_feeds(up, empty_batches, EN, run, pick=lambda: None, save=_saved))
               if x.startswith("Row ")]
    assert any(x.startswith("Row 4 · ") for x in en_rows)
    # The server's reason follows a language switch made after the upload (issue 13): Chinese
    # in the Chinese screen, English in the English one, with no new request.
    chinese = re.compile(r"[\u4e00-\u9fff]")
    assert len(zh_rows) == 2 and all(chinese.search(x.split("：", 1)[1]) for x in zh_rows), zh_rows
    assert len(en_rows) == 2 and not any(chinese.search(x) for x in en_rows), en_rows
    find(view, "report.download").on_click(None)  # the rejected rows, as the API's CSV, saved
    await run.drain()
    csv = _saved.files[f"batch-{report.batch_id}-rejected.csv"].decode("utf-8-sig")  # type: ignore[attr-defined]
    assert csv.splitlines()[0].startswith("row,") and len(csv.splitlines()) >= 3

    again = await up.send(path.name, path)  # the same file again: nothing new is stored
    assert again is not None and again.accepted == 0 and again.duplicates == 3

    batches = BatchesState(client=client)
    await batches.load()
    assert batches.items[0].id == again.batch_id and batches.items[1].id == report.batch_id
    view = office.build_feeds(up, batches, EN, run, pick=lambda: None, save=_saved)
    assert {"screen.upload", "batches.item.0", "batches.item.1", "batches.item.1.download"} <= keys(view)
    assert f"Batch {report.batch_id}" in texts(view)
    # issue 15: how the department's feeds serve the platform, above its batches
    health = batches.health
    assert health is not None and health.department == "tax" and health.coverage >= 0.9
    assert health.rejected_90d >= 2 and health.rows_90d >= 10
    assert {"health", "health.coverage", "health.lateness", "health.rejected",
            "health.disagree.under_declaration"} <= keys(view)
    assert find(view, "health.title").value.startswith("Feed health (")
    assert find(view, "health.rejected").value.startswith("Rejected rows, last 90 days: ")
    zh = office.build_feeds(up, batches, ZH, run, pick=lambda: None, save=_saved)
    assert find(zh, "health.disagree.under_declaration").value.startswith("与其他部门数据不一致：纳税与用电、用工不符 ")

    assert feed_format("a.JSONL") == "jsonl" and feed_format("b.csv") == "csv" and feed_format("c") is None


async def test_operator_sees_a_wrong_source_refused_and_an_empty_list(api: Api, run: Runner, tmp_path: Path) -> None:
    client = await api.signed_in("dept_operator")
    up = UploadState(client=client)
    await up.load()
    up.source = "dishonest_debtor"  # the court's feed, not the tax office's
    path = tmp_path / "x.csv"
    path.write_text("record_key,uscc,event_date\n", encoding="utf-8")
    assert await up.send(path.name, path) is None
    assert up.phase == "failed" and up.error and "court" in up.error
    assert "upload.error" in keys(office.build_feeds(up, BatchesState(client=client), EN, run, pick=lambda: None,
                                                     save=_saved))


async def test_operator_corrects_and_rejects_objections(api: Api, run: Runner) -> None:
    owner = await api.signed_in("owner")
    records = (await owner.objection_records(limit=200)).items
    mine = [r for r in records if r.department == "tax" and not r.has_open_objection][:2]
    assert len(mine) == 2, "the demo firm has tax records"
    for r in mine:
        await owner.file_objection(r.id, "金额有误，请核实")

    queue = ObjectionQueueState(client=await api.signed_in("dept_operator"))
    await queue.load()
    assert queue.open_count >= 2 and queue.items[0].status == "open"
    view = office.build_objections(queue, ZH, run)
    assert {"screen.objections", "objections.item.0", "objections.item.0.open"} <= keys(view)
    first = next(o for o in queue.items if o.record_id == mine[0].id)
    await queue.open(first.id)
    view = office.build_objections(queue, ZH, run)
    assert {"screen.objection", "objection.record", "objection.reply", "objection.correct", "objection.reject",
            "objection.back"} <= keys(view)
    assert not await queue.resolve("reject")  # a rejection needs a reason
    assert queue.invalid == "office.need_reason"
    assert "objection.invalid" in keys(office.build_objections(queue, EN, run))
    queue.reason = "核实无误"
    assert await queue.resolve("reject")
    assert queue.detail is not None and queue.detail.objection.status == "rejected"
    assert "objection.done" in keys(office.build_objections(queue, EN, run))
    queue.close()

    second = next(o for o in queue.items if o.record_id == mine[1].id)
    await queue.open(second.id)
    # one fen more than stored: a real correction that leaves the firm's grade (which other
    # tests of this package read) as it was
    assert "amount_yuan" in queue.values and mine[1].amount_fen is not None
    queue.values["amount_yuan"] = f"{(mine[1].amount_fen + 1) / 100:.2f}"
    queue.reason = "已核实更正"
    assert await queue.resolve("correct"), queue.error
    assert queue.detail.objection.status == "corrected" and queue.detail.corrected_record is not None


async def test_admin_revises_a_weight_profile_after_a_preview(api: Api, run: Runner) -> None:
    ws = WeightsState(client=await api.signed_in("admin"))
    await ws.load()
    view = admin.build_weights(ws, ZH, run)
    assert "screen.weights" in keys(view) and ("weights.empty" in keys(view) or "weights.item.0" in keys(view))
    ws.new()
    # in force from next year: saved and previewed, without re-scoring the region other tests read
    ws.draft.update(name="单元测试方案", reason="复工期", valid_from=(date.today() + timedelta(days=365)).isoformat())
    ws.rows[0][1] = "9"
    await ws.run_preview()
    assert ws.invalid == "admin.bad_factor" and ws.preview is None
    ws.rows[0][1] = "0.5"
    await ws.save()  # never without a preview
    assert ws.invalid == "admin.preview_first" and ws.saved is None
    await ws.run_preview()
    assert ws.preview is not None and ws.preview_current and ws.preview.firms > 0
    view = admin.build_weights(ws, EN, run)
    assert {"screen.profile", "profile.preview_card", "preview.summary", "profile.save"} <= keys(view)
    assert any(x.endswith("firms change grade") or "firms change grade (" in x for x in texts(view))
    ws.rows[0][1] = "0.6"  # the draft changed: the preview is stale, saving waits for a new one
    assert not ws.preview_current and find(admin.build_weights(ws, EN, run), "profile.save").disabled
    await ws.run_preview()
    await ws.save()
    assert ws.saved is not None and ws.saved.name == "单元测试方案" and not ws.editing and not ws.saved.rescoring
    assert any(p.name == "单元测试方案" for p in ws.profiles)
    view = admin.build_weights(ws, ZH, run)
    assert "weights.saved" in keys(view)
    find(view, "weights.item.0.revise").on_click(None)  # revising starts from the latest version
    assert ws.editing and ws.draft["name"] == ws.profiles[0].name and ws.rows


async def test_admin_sees_the_fund_and_opens_an_account(api: Api, run: Runner) -> None:
    client = await api.signed_in("admin")
    fund = FundState(client=client)
    await fund.load()
    assert fund.overview is not None and fund.overview.capital_fen > 0
    assert {"screen.fund", "fund.overview", "fund.capital", "fund.ledger"} <= keys(admin.build_fund(fund, ZH, run))

    accounts = AccountsState(client=client)
    await accounts.load()
    assert {a.role for a in accounts.items} >= {"owner", "admin"}
    accounts.start()
    accounts.draft.update(role="dept_operator", phone="13900000123", password="a-long-passphrase",
                          display_name="海关 操作员")
    await accounts.open_account()
    assert accounts.invalid == "admin.need_department"
    accounts.draft["department"] = "customs"
    await accounts.open_account()
    assert accounts.created is not None and accounts.created.department == "customs", accounts.error
    await accounts.filter("dept_operator")
    assert {a.phone for a in accounts.items} >= {"13900000123"} and {a.role for a in accounts.items} == {"dept_operator"}
    view = admin.build_accounts(accounts, EN, run)
    assert {"screen.accounts", "accounts.created", "accounts.item.0", "accounts.role"} <= keys(view)
    accounts.start()
    accounts.draft.update(role="bank_manager", phone="13900000123", password="a-long-passphrase", bank_id="1")
    await accounts.open_account()  # the number has an account already: the API's reason is shown
    assert accounts.created is None and accounts.error
    assert "state.action_error" in keys(admin.build_accounts(accounts, EN, run))


async def test_admin_trains_a_candidate_compares_and_promotes_it_then_rolls_back(api: Api, run: Runner) -> None:
    ms = ModelsState(client=await api.signed_in("admin"))
    ms_poll = 0.2
    import mobile_app.state.admin as admin_state

    admin_state.POLL_S, before_poll = ms_poll, admin_state.POLL_S
    try:
        await ms.load()
        first = ms.active
        assert first is not None and ms.training.status in ("idle", "done", "failed")
        view = admin.build_models(ms, ZH, run)
        assert {"screen.models", "models.train", "models.item.0", "models.item.0.active"} <= keys(view)
        await ms.train()  # waits (polling) until the run ends
        assert ms.training.status == "done", ms.training
        new = next(v for v in ms.versions if v.version == ms.training.version)
        assert new.awaiting_confirmation and not new.active and ms.notice == "admin.model.trained"
        view = admin.build_models(ms, EN, run)
        assert "models.done" in keys(view) and "models.item.0.promote" in keys(view)
        assert any(x.startswith("Out-of-time AUC") for x in texts(view))
        await ms.promote(new.version)
        if ms.confirm == new.version:  # it moves many grades: the screen asks once more
            assert "models.item.0.confirm" in keys(admin.build_models(ms, EN, run))
            await ms.promote(new.version, confirm=True)
        assert ms.notice == "admin.model.promoted" and ms.active is not None and ms.active.version == new.version
        # the earlier model is one tap away: roll back to it (other tests of the package read its scores)
        i = next(i for i, v in enumerate(ms.versions) if v.version == first.version)
        assert find(admin.build_models(ms, EN, run), f"models.item.{i}.promote").content == "Roll back to this version"
        await ms.promote(first.version, confirm=True)
        assert ms.active is not None and ms.active.version == first.version
    finally:
        admin_state.POLL_S = before_poll


async def test_operator_decides_policy_applications(api: Api, run: Runner) -> None:
    operator = await api.signed_in("dept_operator")
    published = await operator.request("POST", "/api/policies", json={
        "title": "单元测试：小微企业培训补贴", "summary": "测试", "benefit": "每人500元"})
    owner = await api.signed_in("owner")
    await owner.apply_policy(published["id"])  # open to every firm: the demo firm qualifies

    queue = PolicyQueueState(client=operator)
    await queue.load()
    assert queue.pending >= 1 and queue.items[0].status == "pending"
    i = next(i for i, a in enumerate(queue.items) if a.policy_id == published["id"])
    mine = queue.items[i]
    assert mine.firm_uscc == api.firm_uscc and mine.evaluation is not None and mine.evaluation.grade in "ABCD"
    view = office.build_policy_queue(queue, ZH, run)
    assert {"screen.policy_queue", f"policy_queue.{i}.approve", f"policy_queue.{i}.reject",
            f"policy_queue.{i}.reason", f"policy_queue.{i}.score"} <= keys(view)
    assert not await queue.decide(mine.id, "reject")  # a rejection needs a reason
    assert f"policy_queue.{i}.invalid" in keys(office.build_policy_queue(queue, EN, run))
    queue.reasons[mine.id] = "培训名额已满"
    assert await queue.decide(mine.id, "reject")
    done = next(a for a in queue.items if a.id == mine.id)
    assert done.status == "rejected" and done.reason == "培训名额已满"
    assert (await owner.policy_applications())[0].status in ("rejected", "pending", "approved")
    assert any(a.id == mine.id and a.status == "rejected" for a in await owner.policy_applications())
    empty = PolicyQueueState(client=await api.signed_in("dept_operator"))
    empty.items = []
    empty.status = "ready"
    assert "policy_queue.empty" in keys(office.build_policy_queue(empty, EN, run))


async def test_admin_adds_a_bank_lists_and_withdraws_a_product_and_reads_the_audit_log(api: Api, run: Runner) -> None:
    """The 管理 tab (issue 13): banks and products, then the audit log names each change."""
    from mobile_app.state import AuditState, BanksState, ManageState
    from mobile_app.views import manage

    client = await api.signed_in("admin")
    banks, audit, mg = BanksState(client=client), AuditState(client=client), ManageState()
    accounts = AccountsState(client=client)
    await banks.load()
    before = len(banks.banks)
    assert before >= 1 and all(b.code for b in banks.banks)

    mg.pick("banks")
    view = manage.build_manage(mg, accounts, banks, audit, ZH, run)
    assert {"screen.manage.banks", "manage.section", "banks.new", "banks.item.0", "banks.item.0.edit"} <= keys(view)

    banks.new_bank()
    banks.draft.update(code="x", name="测试农商行")
    await banks.save()  # a code the platform cannot take: said before asking the server
    assert banks.invalid == "manage.bad_code" and banks.form == "bank"
    assert "bank.invalid" in keys(manage.build_manage(mg, accounts, banks, audit, ZH, run))
    banks.draft["code"] = "unittest-rcb"
    await banks.save()
    assert banks.form is None and banks.saved == ("manage.bank_created", "测试农商行", "UNITTEST-RCB"), banks.error
    assert "banks.saved.add_product" in keys(manage.build_manage(mg, accounts, banks, audit, ZH, run))
    assert len(banks.banks) == before + 1
    new = next(b for b in banks.banks if b.code == "UNITTEST-RCB")
    assert new.products == [] and not new.suspended

    banks.new_bank()
    banks.draft.update(code="UNITTEST-RCB", name="重复")
    await banks.save()  # the same code again: the API's reason, the form stays open
    assert banks.form == "bank" and banks.error and "state.action_error" in keys(
        manage.build_manage(mg, accounts, banks, audit, EN, run))
    banks.cancel()

    banks.new_product("UNITTEST-RCB")
    banks.draft.update(name="小微信用贷", min_amount_yuan="500000", max_amount_yuan="100000")
    await banks.save()
    assert banks.invalid == "manage.order.max_amount_yuan"
    banks.draft.update(max_amount_yuan="2,000,000", min_rate="3.6", max_rate="5.2", industries="c, f")
    banks.toggle_grade("C", True)
    banks.set_flag("fund_covered", True)
    await banks.save()
    assert banks.form is None, (banks.invalid, banks.error)
    new = next(b for b in banks.banks if b.code == "UNITTEST-RCB")
    (product,) = new.products
    assert (product.min_amount_yuan, product.max_amount_yuan, product.min_rate_bp, product.max_rate_bp) == \
        (500_000, 2_000_000, 360, 520)
    assert product.eligible_grades == ["A", "B", "C"] and product.industries == ["C", "F"]
    assert product.fund_covered and product.active
    assert any(p.id == product.id for p in await client.products())  # firms see it

    i = banks.banks.index(new)
    view = manage.build_manage(mg, accounts, banks, audit, EN, run)
    assert f"banks.item.{i}.product.0" in keys(view)
    find(view, f"banks.item.{i}.product.0.edit").on_click(None)
    assert banks.form == "product_edit" and banks.draft["min_rate"] == "3.60"
    banks.set_flag("active", False)
    await banks.save()
    assert banks.invalid == "manage.need_reason"  # a change to a listed product says why
    banks.draft["reason"] = "额度用完，暂停受理"
    await banks.save()
    assert banks.form is None, banks.error
    assert not banks.product(product.id).active  # type: ignore[union-attr]
    assert all(p.id != product.id for p in await client.products())  # withdrawn from firms
    assert "Withdrawn" in texts(manage.build_manage(mg, accounts, banks, audit, EN, run))

    mg.pick("audit")
    await audit.load()
    actions = [e.action for e in audit.entries]
    assert actions[:3] == ["product.update", "product.create", "bank.create"], actions
    change = audit.entries[0]
    assert change.kind == "change" and change.actor_role == "admin" and change.detail.get("reason") == "额度用完，暂停受理"
    view = manage.build_manage(mg, accounts, banks, audit, ZH, run)
    assert {"screen.manage.audit", "audit.item.0", "audit.filter.view", "audit.firm"} <= keys(view)
    assert any("修改产品" in x for x in texts(view)) and any("额度用完" in x for x in texts(view))
    await audit.filter("change")
    assert audit.entries and {e.kind for e in audit.entries} == {"change"}


async def test_admin_changes_the_funds_limits_and_the_change_is_audited(api: Api, run: Runner) -> None:
    from mobile_app.state import AuditState

    client = await api.signed_in("admin")
    fund = FundState(client=client)
    await fund.load()
    assert fund.overview is not None
    old_total = fund.overview.limit_total_fen // 100
    was = {"limit_total_yuan": old_total, "limit_per_firm_yuan": fund.overview.limit_per_firm_fen // 100,
           "npl_limit_bp": fund.overview.npl_limit_bp,
           "share_pct": {g: fund.overview.share_pct[g] for g in ("A", "B", "C")}}
    fund.edit()
    assert fund.editing and fund.draft["limit_total_yuan"] == str(old_total)
    assert {"fund.form", "fund.form.limit_total_yuan", "fund.form.share_A", "fund.form.save"} <= keys(
        admin.build_fund(fund, ZH, run))
    fund.draft.update(limit_per_firm_yuan=str(old_total + 1))
    await fund.save_limits()
    assert fund.invalid == "admin.fund.bad.per_firm_over_total"
    fund.draft.update(limit_per_firm_yuan="3000000", share_A="60", share_B="70")
    await fund.save_limits()
    assert fund.invalid == "admin.fund.bad.share_order"
    fund.draft.update(share_A="80", share_B="60", share_C="30", limit_total_yuan=str(old_total + 1_000_000))
    await fund.save_limits()
    assert fund.invalid == "admin.fund.bad.reason"
    fund.draft["reason"] = "区财政追加担保额度"
    await fund.save_limits()
    assert not fund.editing and fund.saved, fund.error
    f = fund.overview
    assert f is not None and f.limit_total_fen == (old_total + 1_000_000) * 100 and f.limit_per_firm_fen == 300_000_000
    assert f.share_pct["C"] == 30
    assert "fund.saved" in keys(admin.build_fund(fund, EN, run))

    audit = AuditState(client=client)
    await audit.filter("change")
    entry = next(e for e in audit.entries if e.action == "fund.update")
    assert entry.detail.get("reason") == "区财政追加担保额度"
    assert entry.detail.get("limit_total_yuan") == {"before": old_total, "after": old_total + 1_000_000}, entry.detail
    await client.update_fund({**was, "reason": "单元测试结束，恢复原参数"})  # the package's other tests share the fund


async def test_admin_reads_every_departments_feed_health(api: Api, run: Runner) -> None:
    """The 管理 tab's 数据质量 (issue 15): every department's coverage, timeliness, rejected rows."""
    from mobile_app.state import AuditState, BanksState, ManageState
    from mobile_app.state.manage import FeedHealthState
    from mobile_app.views import manage

    client = await api.signed_in("admin")
    health, mg = FeedHealthState(client=client), ManageState()
    await health.load()
    assert len(health.departments) >= 5 and {"tax", "hrss", "utilities"} <= {h.department for h in health.departments}
    mg.pick("data")
    view = manage.build_manage(mg, AccountsState(client=client), BanksState(client=client), AuditState(client=client),
                               ZH, run, health=health)
    tax = next(h for h in health.departments if h.department == "tax")
    assert {"screen.manage.data", "manage.health.tax", "manage.health.tax.coverage",
            "manage.health.tax.rejected"} <= keys(view)
    assert any(s.startswith(f"{tax.name_zh} · 数据质量") for s in texts(view))
    en = manage.build_manage(mg, AccountsState(client=client), BanksState(client=client), AuditState(client=client),
                             EN, run, health=health)
    assert any(s.startswith("Feed health of every department") for s in texts(en))
