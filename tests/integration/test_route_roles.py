"""Every route x every role (and no token, and an expired token): allowed or refused.

The access policy of the API is the hand-written table in ``tests/access_policy.py``. A test
here checks that it names every route the app serves, so a new route cannot ship without a line
there.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime

import jwt
import pytest

from tests.access_policy import POLICY, PUBLIC, ROLES
from tests.access_policy import template as _template
from tests.integration.conftest import make_user

pytestmark = pytest.mark.anyio

FIRM = "91331004MA2RR0001"


def _uscc() -> str:
    from server.uscc import check_character

    return FIRM + check_character(FIRM)


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
        "analyst": await make_user("13600000006", "analyst"),
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


def test_roles_are_declared_on_routes_not_as_guards(app):
    """A route's roles are its ``opt["roles"]`` (``roles=requires(...)``), enforced by the
    authentication middleware; the only guard left is the streams' own sign-in, which enforces
    the same roles. A ``requires(...)`` put among ``guards`` would not be callable: caught here,
    not as a 500 on every request."""
    from server.notifications.push import stream_guard
    from server.users.security import Roles

    for route in app.routes:
        for handler in getattr(route, "route_handlers", None) or [route.route_handler]:
            where = f"{route.path} {sorted(getattr(handler, 'http_methods', ['WS']))}"
            assert set(handler.resolve_guards()) <= {stream_guard}, where
            roles = handler.opt.get("roles")
            assert roles is None or isinstance(roles, Roles), where
            if handler.resolve_guards() and roles is not None:
                assert handler.opt.get("exclude_from_auth"), where  # signed in by the guard
