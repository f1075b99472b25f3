"""The access policy of the API, written by hand: which roles each route admits.

``tests/integration/test_route_roles.py`` checks that it names every route the app serves and
calls every route as every role; the API fuzz (``tests/e2e/test_api_fuzz.py``) fuzzes each
route as each role that may call it.
"""

from __future__ import annotations

__all__ = ["ANY", "POLICY", "PUBLIC", "ROLES", "roles_of", "template"]

ROLES = ("owner", "bank_manager", "subscriber", "dept_operator", "analyst", "admin")
ANY = frozenset(ROLES)  # any signed-in user
PUBLIC = None  # no token needed

# (method, path) -> the roles the route admits
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
    ("GET", "/api/ingest/feed-health"): frozenset({"dept_operator", "analyst", "admin"}),
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
    ("GET", "/api/reports/credit-index"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/groups"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/clusters"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/resources"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/annual"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/annual/{id}"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/fund-flows"): frozenset({"analyst", "admin"}),
    ("GET", "/api/reports/guarantee-chains"): frozenset({"analyst", "admin"}),
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
    ("GET", "/api/loans/book"): frozenset({"bank_manager"}),
    ("GET", "/api/projects"): frozenset({"owner", "dept_operator", "admin"}),
    ("GET", "/api/projects/portfolio"): frozenset({"dept_operator"}),
    ("GET", "/api/projects/summary"): frozenset({"analyst", "admin"}),
    ("POST", "/api/projects/track"): frozenset({"admin"}),
    ("GET", "/api/projects/{id}"): frozenset({"owner", "dept_operator", "admin"}),
    ("POST", "/api/projects/{id}/self-evaluations"): frozenset({"owner"}),
    ("POST", "/api/projects/{id}/assessments"): frozenset({"dept_operator"}),
    ("POST", "/api/projects/{id}/close"): frozenset({"dept_operator"}),
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
    ("GET", "/api/banks"): frozenset({"admin"}),
    ("POST", "/api/banks"): frozenset({"admin"}),
    ("PATCH", "/api/banks/{id}"): frozenset({"admin"}),  # {code}
    ("POST", "/api/products"): frozenset({"admin"}),
    ("PATCH", "/api/products/{id}"): frozenset({"admin"}),
    ("PATCH", "/api/fund"): frozenset({"admin"}),
    ("GET", "/api/audit"): frozenset({"admin"}),
}


def template(path: str) -> str:
    """``/api/x/{application_id:int}`` -> ``/api/x/{id}`` (named as in POLICY)."""
    parts = []
    for part in path.split("/"):
        if part.startswith("{"):
            name = part[1:-1].split(":")[0]
            part = "{" + (name if name in ("uscc", "source") else "id") + "}"
        parts.append(part)
    return "/".join(parts)


def roles_of(method: str, path: str) -> frozenset[str] | None:
    """The roles admitted by ``method path`` (a served path or an OpenAPI one);
    None for a public route. KeyError for a route the policy does not name."""
    return POLICY[(method.upper(), template(path))]
