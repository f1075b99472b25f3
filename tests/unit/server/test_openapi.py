"""The OpenAPI document is what the app and the banks' systems read: every operation has a
summary, and every request body shows an example."""

from __future__ import annotations

import pytest

from server.app import create_app
from server.settings import Settings


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> dict:
    db = tmp_path_factory.mktemp("openapi") / "x.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", jwt_secret="x" * 32, demo=True))
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


def test_every_operation_has_a_summary(spec):
    missing = [f"{m} {p}" for m, p, op in _operations(spec) if not op.get("summary")]
    assert missing == []


def test_every_request_body_shows_an_example(spec):
    components = spec["components"]["schemas"]
    missing = [f"{m} {p}" for m, p, op in _operations(spec) if "requestBody" in op
               and not all(_has_example(c["schema"], components)
                           for c in op["requestBody"]["content"].values())]
    assert missing == []
