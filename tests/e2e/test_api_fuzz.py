"""Schemathesis against a live server with demo data: no 500, no response off its schema, and
every 4xx in the reader's language (issue 13): each fuzzed request says ``Accept-Language`` zh or
en in turn, and each 4xx's ``detail`` (and ``extra`` messages) is checked with the helpers of
``tests/integration/test_reader_language.py`` (the request's own values count as quoted data).

A real ``xinbao demo`` process (uvicorn, SQLite, a small synthetic region) is started on a free
port; schemathesis reads ``/schema/openapi.json`` and fuzzes, as each demo role, every operation
that role may call by the access policy (``tests/access_policy.py``), in the examples, coverage
and fuzzing phases; the public operations (sign-in, registration ...) once, in the first role's
run. An operation a role may not call answers 403 whatever the input (the role check runs before the
input is read), which ``tests/integration/test_route_roles.py`` checks for every pair. Tokens are taken before fuzzing starts, because the
fuzzer's wrong passwords soon throttle sign-ins from this address, and logout is left out so the
fuzzer cannot revoke the token it is using (and the endless SSE stream, tested on its own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.access_policy import PUBLIC, roles_of
from tests.e2e.browser import stop_server

ROLES = {"owner": "13800000001", "bank_manager": "13800000002", "subscriber": "13800000003",
         "dept_operator": "13800000004", "admin": "13800000005",
         "analyst": "13800000006"}
EXAMPLES = int(os.environ.get("XINBAO_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("XINBAO_FUZZ_SEED", "20261122")


ROOT = Path(__file__).resolve().parents[2]

#: A schemathesis hooks module (SCHEMATHESIS_HOOKS): alternate the reader's language and check
#: every 4xx's texts in it.
HOOKS = '''
import itertools

import schemathesis

from tests.integration.test_reader_language import body_problems, strings_in

_turn = itertools.count()


@schemathesis.hook
def before_call(context, case, kwargs):
    lang = ("zh", "en")[next(_turn) % 2]
    case.headers = {**(case.headers or {}), "accept-language": lang}


@schemathesis.check
def reads_in_the_readers_language(ctx, response, case):
    if not 400 <= response.status_code < 500:
        return None
    lang = (case.headers or {}).get("accept-language")
    if lang not in ("zh", "en"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    data = strings_in([case.path_parameters, case.query, case.body, case.headers])
    problems = body_problems(body, lang, data)
    if problems:
        raise AssertionError("texts not in the reader's language: " + "; ".join(problems))
    return None
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_json(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(data / "data"),
           "XINBAO_DATABASE_URL": f"sqlite:///{data / 'xinbao.db'}", "XINBAO_MODEL_BAGS": "4", "XINBAO_MODEL_REGULARIZATION": "0.1"}
    env.pop("XINBAO_REDIS_URL", None)
    log = open(data / "server.log", "wb")  # noqa: SIM115 - closed below
    xinbao = Path(sys.executable).with_name("xinbao")
    # --app-port 0: no phone app here (and no clash with a demo already serving :8550)
    proc = subprocess.Popen([str(xinbao), "demo", "--firms", "200", "--seed", "5", "--port", str(port),
                             "--app-port", "0"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the demo server exited: {(data / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the demo server did not answer within 5 minutes")
                time.sleep(1)
        yield base
    finally:
        stop_server(proc, log)


@pytest.fixture(scope="module")
def tokens(live_server: str) -> dict[str, str]:
    return {role: _post_json(f"{live_server}/api/auth/login",
                             {"phone": phone, "password": "demo1234"})["access_token"]
            for role, phone in ROLES.items()}


HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def operations_for(schema: dict, role: str) -> list[str]:
    """The operationIds ``role`` may call; the public ones in the first role's list only."""
    ids = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            allowed = roles_of(method, path)  # KeyError: a route the policy does not name
            if (allowed is PUBLIC and role == next(iter(ROLES))) or (allowed is not PUBLIC and role in allowed):
                ids.append(operation["operationId"])
    return ids


@pytest.fixture(scope="module")
def schema(live_server: str) -> dict:
    with urllib.request.urlopen(f"{live_server}/schema/openapi.json", timeout=30) as r:
        return json.load(r)


def test_every_role_has_operations_to_fuzz(schema):
    """The filter below leaves every role something, and every operation some role."""
    every = {op["operationId"] for item in schema["paths"].values()
             for method, op in item.items() if method in HTTP_METHODS}
    chosen = {role: set(operations_for(schema, role)) for role in ROLES}
    assert all(chosen.values()), chosen
    assert set().union(*chosen.values()) == every


@pytest.mark.slow
@pytest.mark.parametrize("role", list(ROLES))
def test_no_server_error_and_every_response_fits_its_schema(live_server, schema, tokens, role, tmp_path):
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency"
    ids = "|".join(re.escape(i) for i in operations_for(schema, role))
    cmd = [st, "run", f"{live_server}/schema/openapi.json", "--include-operation-id-regex", f"^({ids})$",
           "-H", f"Authorization: Bearer {tokens[role]}",
           "--checks", "not_a_server_error,response_schema_conformance,reads_in_the_readers_language",
           "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
           "--seed", SEED, "--exclude-path", "/api/auth/logout",
           "--exclude-path", "/api/notifications/stream",
           # A fuzzed 202 here starts a real training run (a minute of CPU on the shared server
           # per run); its input checks (400 naming the field, 403, 409) are in test_models.py.
           "--exclude-path", "/api/models/train", "--no-color",
           "--report", "junit", "--report-dir", str(tmp_path)]
    (tmp_path / "xinbao_fuzz_hooks.py").write_text(HOOKS)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "xinbao_fuzz_hooks",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    summary = done.stdout[-6000:]
    failures = done.stdout.find("FAILURES")  # each failure's check and message, before the tail
    assert done.returncode == 0, (done.stdout[failures:failures + 6000] + "\n...\n" if failures >= 0 else "") + summary
    assert " passed" in summary and "generated" in summary, summary
