"""The browser tests' fixtures: each test module starts its own ``xinbao demo`` (API and web
app) and its own Chromium, so the modules run on separate xdist workers side by side."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Browser,
    Demo,
    _free_port,
    _page,
    _wait_http,
    stop_server,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not Path(CHROMIUM).exists():
        message = "Debian chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("XINBAO_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    data = tmp_path_factory.mktemp("app_e2e")
    api_port, app_port = _free_port(), _free_port()
    env = {**os.environ, "XINBAO_DEMO": "1", "XINBAO_DATA_DIR": str(data / "data"),
           "XINBAO_DATABASE_URL": f"sqlite:///{data / 'xinbao.db'}", "XINBAO_MODEL_BAGS": "4", "XINBAO_MODEL_REGULARIZATION": "0.1",
           "XINBAO_SCHEDULER": "0"}
    env.pop("XINBAO_REDIS_URL", None)
    log_path = data / "demo.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    xinbao = Path(sys.executable).with_name("xinbao")
    proc = subprocess.Popen([str(xinbao), "demo", "--firms", "150", "--seed", "7", "--port", str(api_port),
                             "--app-port", str(app_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    found = Demo(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{app_port}", log_path)
    try:
        _wait_http(f"{found.api}/api/health", proc, log_path, 240)
        _wait_http(found.app, proc, log_path, 60)
        yield found
    finally:
        stop_server(proc, log)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def browser(chromium: Any) -> Iterator[Browser]:
    b = _page(chromium, 412, 915)
    yield b
    print("requests outside 127.0.0.1:", b.outside_requests())
    b.page.context.close()


@pytest.fixture
def phone(chromium: Any) -> Iterator[Browser]:
    """A 390 px wide phone (iPhone 12-15 size), a fresh page."""
    b = _page(chromium, 390, 844)
    yield b
    b.page.context.close()

