"""The OpenAPI document is what the app and the banks' systems read: every operation has a
summary, and every request body shows an example; the docs pages load nothing from outside."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.settings import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("openapi") / "x.db"
    return create_app(Settings(database_url=f"sqlite:///{db}", jwt_secret="x" * 32, demo=True))


@pytest.fixture(scope="module")
def spec(app) -> dict:
    return app.openapi_schema.to_schema()


def _operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "responses" in op:
                yield method.upper(), path, op


def _has_example(schema: dict, components: dict) -> bool:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "examples" in schema or "example" in schema:
        return True
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return any(_has_example(s, components) for s in schema[key] if s.get("type") != "null")
    return any(_has_example(p, components) if "$ref" in p else ("examples" in p or "example" in p)
               for p in schema.get("properties", {}).values())


def _request_fields(schema: dict, components: dict) -> set[str]:
    """The top-level property names of a request body schema (through refs and unions)."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    names = set(schema.get("properties", {}))
    for key in ("oneOf", "anyOf", "allOf"):
        for part in schema.get(key, []):
            names |= _request_fields(part, components)
    return names


def test_no_dependency_is_named_like_a_request_field(spec):
    """Litestar reports a bad value of a field whose name is a dependency's as a 500 (it takes
    the error for the server's): found by the fuzz when the matching rules were ``rules``, the
    name of the override rule set's body field (tests/integration/test_overrides.py)."""
    from server.deps import DEPENDENCY_NAMES

    components = spec["components"]["schemas"]
    clashes = []
    for method, path, op in _operations(spec):
        fields = {p["name"] for p in op.get("parameters", [])}
        for content in op.get("requestBody", {}).get("content", {}).values():
            fields |= _request_fields(content["schema"], components)
        clashes += [f"{method} {path}: {name}" for name in fields & DEPENDENCY_NAMES]
    assert clashes == []


def test_every_operation_has_a_summary(spec):
    missing = [f"{m} {p}" for m, p, op in _operations(spec) if not op.get("summary")]
    assert missing == []


def test_every_request_body_shows_an_example(spec):
    components = spec["components"]["schemas"]
    missing = [f"{m} {p}" for m, p, op in _operations(spec) if "requestBody" in op
               and not all(_has_example(c["schema"], components)
                           for c in op["requestBody"]["content"].values())]
    assert missing == []


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
def test_the_docs_pages_load_every_file_from_the_api_itself(app, page):
    """Offline (no CDN), the docs still render: every script, style sheet and icon the page
    names is a path of this API, and each is served."""
    with TestClient(app) as client:
        html = client.get(page)
        assert html.status_code == 200 and "SwaggerUIBundle" in html.text
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html.text)
        assert any(r.endswith("swagger-ui-bundle.js") for r in refs)
        assert [r for r in refs if re.match(r"(https?:)?//", r)] == []  # nothing from outside
        for ref in refs:
            got = client.get(ref)
            assert got.status_code == 200 and got.content, ref
        spec = client.get("/schema/openapi.json")
        assert spec.status_code == 200 and spec.json()["info"]["title"].startswith("Xinbao")
