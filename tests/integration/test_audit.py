"""The audit log (GET /api/audit): every admin change route writes its entry, a bank's view of an
evaluation appears as a view, and the log filters and pages, newest first, on each engine.

``AUDITED`` names, for every admin-only route that changes something, the call that exercises
it and the action it must log: a new admin route that is not in it fails
``test_every_admin_change_route_is_audited``, so none can ship unaudited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.access_policy import POLICY

pytestmark = pytest.mark.anyio

#: Admin routes that change nothing (what-if answers), so they log nothing.
PREVIEWS = {("POST", "/api/weight-profiles/preview")}


async def _open_account(client, admin, demo) -> Any:
    return await client.post("/api/users", headers=admin, json={
        "phone": "13700000201", "password": "Audit-trail-pass-2026!", "role": "subscriber",
        "display_name": "审计 测试"})


async def _weights(client, admin, demo) -> Any:
    return await client.post("/api/weight-profiles", headers=admin, json={
        "name": "audit-relief", "reason": "年度调整", "valid_from": "2999-01-01",
        "adjustments": [{"target": "kind:tax_monthly", "factor": 0.8}]})


async def _overrides(client, admin, demo) -> Any:
    return await client.post("/api/override-rules", headers=admin, json={
        "reason": "监管口径", "rules": [{"code": "bank_default", "min_days": 75}]})


async def _train(client, admin, demo) -> Any:
    return await client.post("/api/models/train", headers=admin, json={})


async def _promote(client, admin, demo) -> Any:
    from server.tables.scores import ModelVersion

    # Make the demo's version inactive, so promoting it changes something (the same artifact).
    await ModelVersion.update({ModelVersion.active: False}).where(ModelVersion.version == demo.model_version)
    return await client.post(f"/api/models/{demo.model_version}/promote", headers=admin, json={"confirm": True})


async def _health(client, admin, demo) -> Any:
    return await client.post("/api/models/health", headers=admin)


async def _scan(client, admin, demo) -> Any:
    return await client.post("/api/risk/scan", headers=admin, json={"usccs": [demo.firm_uscc]})


async def _bank_create(client, admin, demo) -> Any:
    return await client.post("/api/banks", headers=admin, json={"code": "AUD-1", "name": "审计银行"})


async def _bank_update(client, admin, demo) -> Any:
    return await client.patch("/api/banks/AUD-1", headers=admin, json={"name": "审计银行二", "reason": "更名"})


async def _product_create(client, admin, demo) -> Any:
    return await client.post("/api/products", headers=admin, json={
        "bank_code": "AUD-1", "name": "审计贷", "min_amount_yuan": 10_000, "max_amount_yuan": 500_000,
        "min_term_months": 3, "max_term_months": 24, "min_rate_bp": 400, "max_rate_bp": 600,
        "eligible_grades": ["A"]})


async def _product_update(client, admin, demo) -> Any:
    from server.tables.financing import LoanProduct

    pid = (await LoanProduct.select(LoanProduct.id).where(LoanProduct.bank.code == "AUD-1").first())["id"]
    return await client.patch(f"/api/products/{pid}", headers=admin, json={"max_rate_bp": 650, "reason": "调价"})


async def _fund_update(client, admin, demo) -> Any:
    return await client.patch("/api/fund", headers=admin, json={"npl_limit_bp": 350, "reason": "理事会决议"})


async def _track_projects(client, admin, demo) -> Any:
    return await client.post("/api/projects/track", headers=admin)


Call = Callable[[Any, dict[str, str], Any], Awaitable[Any]]
#: (method, route as in POLICY) -> (the action logged, the call that exercises it), in call order.
AUDITED: dict[tuple[str, str], tuple[str, Call]] = {
    ("POST", "/api/users"): ("account.open", _open_account),
    ("POST", "/api/weight-profiles"): ("weights.save", _weights),
    ("POST", "/api/override-rules"): ("overrides.revise", _overrides),
    ("POST", "/api/models/train"): ("model.train", _train),
    ("POST", "/api/models/{id}/promote"): ("model.promote", _promote),
    ("POST", "/api/models/health"): ("model.health", _health),
    ("POST", "/api/risk/scan"): ("risk.scan", _scan),
    ("POST", "/api/projects/track"): ("projects.track", _track_projects),
    ("POST", "/api/banks"): ("bank.create", _bank_create),
    ("PATCH", "/api/banks/{id}"): ("bank.update", _bank_update),
    ("POST", "/api/products"): ("product.create", _product_create),
    ("PATCH", "/api/products/{id}"): ("product.update", _product_update),
    ("PATCH", "/api/fund"): ("fund.update", _fund_update),
}


def test_every_admin_change_route_is_audited():
    admin_changes = {route for route, roles in POLICY.items()
                     if roles == frozenset({"admin"}) and route[0] != "GET"} - PREVIEWS
    assert admin_changes - AUDITED.keys() == set(), "admin routes without an audit test in AUDITED"
    assert AUDITED.keys() - admin_changes == set(), "AUDITED names routes that are not admin-only changes"


async def _log(client, headers, **params) -> dict:
    r = await client.get("/api/audit", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
async def admin_id(client, tokens) -> int:
    return (await client.get("/api/me", headers=tokens["admin"])).json()["id"]


@pytest.fixture(scope="module")
async def quick_training(demo):
    """Training from the API without a minute of CPU: the run "makes" no version at once."""
    from server.scores import training

    real = training.train_platform_model

    async def fake(settings, as_of=None, engine=None, hold=False):
        return "xinbao-audit-fake"

    training.train_platform_model = fake
    yield
    training.train_platform_model = real


@pytest.mark.parametrize("route", list(AUDITED), ids=[f"{m} {p}" for m, p in AUDITED])
async def test_each_admin_change_is_logged_once_with_its_actor(client, tokens, demo, admin_id, quick_training,
                                                             route):
    action, call = AUDITED[route]
    before = await _log(client, tokens["admin"], kind="change", actor=admin_id, limit=200)
    r = await call(client, tokens["admin"], demo)
    assert r.status_code < 300, r.text
    after = await _log(client, tokens["admin"], kind="change", actor=admin_id, limit=200)
    new = after["entries"][:after["total"] - before["total"]]
    assert [e["action"] for e in new] == [action], new
    [entry] = new
    assert entry["kind"] == "change" and entry["actor_id"] == admin_id and entry["actor_role"] == "admin"
    assert entry["actor_name"] == "平台管理员"  # the demo admin's display name
    assert entry["target"] and isinstance(entry["detail"], dict) and entry["detail"]
    text = str(entry["detail"]).lower()
    assert "password" not in text and "secret" not in text and "token" not in text
    if action.endswith((".update", ".revise")):
        assert entry["detail"]["reason"]
    if route == ("POST", "/api/models/train"):
        from tests.integration.test_models import _training_done

        assert (await _training_done(client, tokens))["status"] in ("done", "failed")


async def test_update_details_say_before_and_after(client, tokens, demo, admin_id):
    entries = (await _log(client, tokens["admin"], kind="change", limit=200))["entries"]
    by_action = {e["action"]: e for e in reversed(entries)}  # the newest of each
    assert by_action["bank.update"]["detail"] == {"name": {"before": "审计银行", "after": "审计银行二"}, "reason": "更名"}
    assert by_action["bank.update"]["target"] == "AUD-1"
    assert by_action["product.update"]["detail"] == {"max_rate_bp": {"before": 600, "after": 650}, "reason": "调价"}
    assert by_action["fund.update"]["detail"] == {"npl_limit_bp": {"before": 300, "after": 350}, "reason": "理事会决议"}
    assert by_action["account.open"]["target"] == "137****0201"
    assert by_action["account.open"]["detail"]["role"] == "subscriber"
    assert by_action["overrides.revise"]["detail"]["version"] == {"before": "overrides@v1", "after": "overrides@v2"}
    assert by_action["risk.scan"]["target"] == demo.firm_uscc


async def test_a_banks_view_of_an_evaluation_is_logged_as_a_view(client, tokens, demo):
    me = (await client.get("/api/me", headers=tokens["bank_manager"])).json()
    granted = await client.post("/api/consents", json={"bank_id": me["bank_id"], "days": 30}, headers=tokens["owner"])
    assert granted.status_code == 201, granted.text
    assert (await client.get(f"/api/firms/{demo.firm_uscc}/evaluation",
                             headers=tokens["bank_manager"])).status_code == 200
    views = await _log(client, tokens["admin"], kind="view", actor=me["id"])
    [entry] = views["entries"]
    assert views["total"] == 1
    assert entry["action"] == "evaluation.view" and entry["kind"] == "view"
    assert entry["target"] == demo.firm_uscc and entry["actor_role"] == "bank_manager"
    assert entry["actor_name"] == "客户经理 李女士"
    assert entry["detail"] == {"bank": "工商银行上虞支行"}
    # the firm's filter finds the view and the scan made on it, and nothing of other firms
    firm = await _log(client, tokens["admin"], firm=demo.firm_uscc.lower(), limit=200)
    assert {(e["kind"], e["action"]) for e in firm["entries"]} >= {("view", "evaluation.view"), ("change", "risk.scan")}
    assert all(e["target"] == demo.firm_uscc for e in firm["entries"])


async def test_the_log_merges_newest_first_and_pages(client, tokens, demo):
    from server.tables.audit import AuditEvent
    from server.tables.consent import AccessLog

    whole = await _log(client, tokens["admin"], limit=200)
    assert whole["total"] == await AuditEvent.count() + await AccessLog.count().where(AccessLog.what == "evaluation")
    ats = [e["at"] for e in whole["entries"]]
    assert ats == sorted(ats, reverse=True)
    assert {e["kind"] for e in whole["entries"]} == {"change", "view"}
    pages = []
    for offset in range(0, whole["total"], 5):
        page = await _log(client, tokens["admin"], limit=5, offset=offset)
        assert page["total"] == whole["total"] and page["limit"] == 5 and page["offset"] == offset
        pages += page["entries"]
    assert pages == whole["entries"][:len(pages)]
    beyond = await _log(client, tokens["admin"], offset=whole["total"])
    assert beyond["entries"] == [] and beyond["total"] == whole["total"]
    changes = await _log(client, tokens["admin"], kind="change", limit=200)
    views = await _log(client, tokens["admin"], kind="view", limit=200)
    assert changes["total"] + views["total"] == whole["total"]
    assert {e["kind"] for e in changes["entries"]} == {"change"}
    nobody = await _log(client, tokens["admin"], actor=2**31 - 1)
    assert nobody == {"total": 0, "limit": 50, "offset": 0, "entries": []}


@pytest.mark.parametrize(("params", "field"), [
    ({"kind": "edit"}, "kind"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"),
    ({"actor": "x"}, "actor"), ({"actor": 0}, "actor"), ({"firm": "123"}, "firm"), ({"firm": "x" * 19}, "firm"),
])
async def test_bad_filters_name_the_field(client, tokens, demo, params, field):
    r = await client.get("/api/audit", params=params, headers=tokens["admin"])
    assert r.status_code == 400 and field in r.json()["detail"], r.text


@pytest.mark.parametrize("role", ["owner", "bank_manager", "subscriber", "dept_operator"])
async def test_only_admins_read_the_log(client, tokens, demo, role):
    assert (await client.get("/api/audit", headers=tokens[role])).status_code == 403
