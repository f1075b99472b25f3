"""Every route x every role (and no token, and an expired token): allowed or refused.

The table below is the access policy of the API, written by hand. A test checks that it names
every route the app serves, so a new route cannot ship without a line here.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime

import jwt
import pytest

from tests.integration.conftest import make_user

pytestmark = pytest.mark.anyio

ROLES = ("owner", "bank_manager", "subscriber", "dept_operator", "admin")
ANY = frozenset(ROLES)  # any signed-in user
PUBLIC = None  # no token needed

# (method, path) -> the roles that pass the route's guard
POLICY: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/register/verify"): PUBLIC,
    ("POST", "/api/auth/logout"): ANY,
    ("GET", "/api/me"): ANY,
    ("PATCH", "/api/me"): ANY,
    ("POST", "/api/me/firm-claim"): frozenset({"owner"}),
    ("POST", "/api/me/firm-claim/verify"): frozenset({"owner"}),
    ("GET", "/api/users"): frozenset({"admin"}),
    ("POST", "/api/users"): frozenset({"admin"}),
    ("GET", "/api/firms"): ANY,
    ("GET", "/api/firms/{uscc}"): ANY,
    ("GET", "/api/firms/{uscc}/evaluation"): frozenset({"owner", "bank_manager", "admin"}),
    ("GET", "/api/firms/{uscc}/access-log"): frozenset({"owner", "admin"}),
    ("GET", "/api/consents"): frozenset({"owner"}),
    ("POST", "/api/consents"): frozenset({"owner"}),
    ("DELETE", "/api/consents/{id}"): frozenset({"owner"}),
    ("POST", "/api/ingest/{source}"): frozenset({"dept_operator"}),
    ("GET", "/api/ingest/batches/{id}/rejected"): frozenset({"dept_operator"}),
    ("GET", "/api/ingest/sources"): frozenset({"dept_operator"}),
    ("GET", "/api/ingest/batches"): frozenset({"dept_operator"}),
    ("GET", "/api/weight-profiles"): frozenset({"admin"}),
    ("POST", "/api/weight-profiles"): frozenset({"admin"}),
    ("POST", "/api/weight-profiles/preview"): frozenset({"admin"}),
    ("GET", "/api/override-rules"): frozenset({"admin"}),
    ("POST", "/api/override-rules"): frozenset({"admin"}),
    ("GET", "/api/models"): frozenset({"admin"}),
    ("POST", "/api/models/{id}/promote"): frozenset({"admin"}),
    ("POST", "/api/models/train"): frozenset({"admin"}),
    ("GET", "/api/models/training"): frozenset({"admin"}),
    ("GET", "/api/models/health"): frozenset({"admin"}),
    ("POST", "/api/models/health"): frozenset({"admin"}),
    ("GET", "/api/products"): ANY,
    ("POST", "/api/financing/match"): frozenset({"owner"}),
    ("GET", "/api/applications"): frozenset({"owner", "bank_manager", "admin"}),
    ("POST", "/api/applications"): frozenset({"owner"}),
    ("GET", "/api/applications/{id}"): frozenset({"owner", "bank_manager", "admin"}),
    ("POST", "/api/applications/{id}/decision"): frozenset({"bank_manager"}),
    ("GET", "/api/reports/decision-times"): frozenset({"admin", "bank_manager"}),
    ("GET", "/api/fund"): frozenset({"admin", "bank_manager"}),
    ("GET", "/api/fund/ledger"): frozenset({"admin"}),
    ("POST", "/api/fund/claims"): frozenset({"bank_manager"}),
    ("POST", "/api/loans/{id}/default"): frozenset({"bank_manager"}),
    ("POST", "/api/loans/{id}/repaid"): frozenset({"bank_manager"}),
    ("GET", "/api/policies"): ANY,
    ("POST", "/api/policies"): frozenset({"dept_operator"}),
    ("GET", "/api/policies/criteria"): ANY,
    ("GET", "/api/policies/matches"): frozenset({"owner"}),
    ("GET", "/api/policies/{id}"): ANY,
    ("PATCH", "/api/policies/{id}"): frozenset({"dept_operator"}),
    ("POST", "/api/policies/{id}/applications"): frozenset({"owner"}),
    ("GET", "/api/policies/applications"): frozenset({"owner", "dept_operator"}),
    ("POST", "/api/policies/applications/{id}/decision"): frozenset({"dept_operator"}),
    ("GET", "/api/objections"): frozenset({"owner", "dept_operator", "admin"}),
    ("POST", "/api/objections"): frozenset({"owner"}),
    ("GET", "/api/objections/records"): frozenset({"owner"}),
    ("GET", "/api/objections/{id}"): frozenset({"owner", "dept_operator", "admin"}),
    ("POST", "/api/objections/{id}/resolution"): frozenset({"dept_operator"}),
    ("GET", "/api/risk/rules"): ANY,
    ("GET", "/api/firms/{uscc}/warnings"): ANY,
    ("GET", "/api/warnings"): frozenset({"bank_manager", "admin"}),
    ("GET", "/api/risk/circles"): frozenset({"bank_manager", "admin"}),
    ("GET", "/api/firms/{uscc}/ties"): frozenset({"owner", "bank_manager", "admin"}),
    ("GET", "/api/risk/macro"): ANY,
    ("POST", "/api/risk/scan"): frozenset({"admin"}),
    ("GET", "/api/subscriptions"): ANY,
    ("POST", "/api/subscriptions"): ANY,
    ("DELETE", "/api/subscriptions/{id}"): ANY,
    ("GET", "/api/notifications"): ANY,
    ("GET", "/api/notifications/unread-count"): ANY,
    ("POST", "/api/notifications/{id}/read"): ANY,
    ("POST", "/api/notifications/read-all"): ANY,
    ("GET", "/api/notifications/stream"): ANY,
    ("POST", "/api/notifications/stream-ticket"): ANY,
    ("PUT", "/api/banks/me/webhook"): frozenset({"bank_manager"}),
}

FIRM = "91331004MA2RR0001"


def _uscc() -> str:
    from server.uscc import check_character

    return FIRM + check_character(FIRM)


def _template(path: str) -> str:
    """``/api/x/{application_id:int}`` -> ``/api/x/{id}`` (named as in POLICY)."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{"):
            name = part[1:-1].split(":")[0]
            part = "{" + (name if name in ("uscc", "source") else "id") + "}"
        parts.append(part)
    return "/".join(parts)


def test_the_policy_names_every_route(app):
    served = set()
    for route in app.routes:
        for method in getattr(route, "route_handler_map", {}):
            if method in ("OPTIONS", "HEAD") or route.path.startswith("/schema"):
                continue
            served.add((method, _template(route.path)))
    assert served - POLICY.keys() == set(), "routes without an access rule in POLICY"
    assert POLICY.keys() - served == set(), "rules for routes the app no longer serves"


@pytest.fixture(scope="module")
async def people(client) -> dict[str, int]:
    from server.tables.firms import Firm

    now = datetime.now(UTC)
    if not await Firm.exists().where(Firm.uscc == _uscc()):
        await Firm(uscc=_uscc(), name="角色测试有限公司", industry_section="C", industry_division="34",
                   town="百官街道", registered_capital_fen=100_000_000, founded_on=date(2015, 1, 1),
                   size_class="small", created_at=now, updated_at=now).save()
    return {
        "owner": await make_user("13600000001", "owner", firm_uscc=_uscc()),
        "bank_manager": await make_user("13600000002", "bank_manager", bank_code="ICBC-SY"),
        "subscriber": await make_user("13600000003", "subscriber"),
        "dept_operator": await make_user("13600000004", "dept_operator", department="tax"),
        "admin": await make_user("13600000005", "admin"),
    }


def _fresh_token(app, user_id: int, role: str) -> dict[str, str]:
    # A new token per request: logout revokes the one it is called with.
    token = app.state.jwt_auth.create_token(identifier=str(user_id), token_unique_jwt_id=uuid.uuid4().hex,
                                            token_extras={"typ": "access", "role": role})
    return {"Authorization": f"Bearer {token}"}


def _expired(app, user_id: int) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode({"sub": str(user_id), "iat": now - 120, "exp": now - 60, "jti": uuid.uuid4().hex,
                        "extras": {"typ": "access"}}, app.state.settings.jwt_secret, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


async def _call(client, method: str, path: str, headers: dict[str, str]):
    url = path.replace("{uscc}", _uscc()).replace("{source}", "tax_monthly").replace("{id}", "1")
    body = {} if method in ("POST", "PATCH", "PUT") else None
    if path == "/api/notifications/stream":  # what was missed, then the stream ends
        return await client.get(url, params={"max_seconds": 0}, headers=headers)
    if path == "/api/ingest/{source}":
        return await client.post(url, content=b"uscc\n", headers={**headers, "content-type": "text/csv"})
    return await client.request(method, url, json=body, headers=headers)


def _role_refusal(r) -> bool:
    return r.status_code == 403 and "needs the role" in r.json().get("detail", "")


@pytest.mark.parametrize(("method", "path"), sorted(POLICY))
async def test_each_role_is_allowed_or_refused(client, app, people, method, path):
    allowed = POLICY[(method, path)]
    outcomes = {}
    for role in ROLES:
        r = await _call(client, method, path, _fresh_token(app, people[role], role))
        outcomes[role] = r
        if allowed is PUBLIC or role in allowed:
            assert r.status_code != 401 and not _role_refusal(r), (role, r.status_code, r.text)
        else:
            assert _role_refusal(r), (role, r.status_code, r.text)
    no_token = await _call(client, method, path, {})
    expired = await _call(client, method, path, _expired(app, people["admin"]))
    if allowed is PUBLIC:
        assert no_token.status_code != 401 or path in ("/api/auth/login", "/api/auth/refresh"), no_token.text
    else:
        assert no_token.status_code == 401, no_token.text
        assert expired.status_code == 401, expired.text
