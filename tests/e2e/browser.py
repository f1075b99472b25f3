"""Driving the 信宝 app in real Chromium: the demo and the page the browser tests share.

``xinbao demo`` starts the API on a small synthetic region and the app in web mode beside it
(exactly what ``make demo`` runs). Debian's chromium is driven by Playwright for Python; Flutter
paints to a canvas, so the tests read the accessibility (semantics) tree. Screenshots of each
step go to tests/e2e/screens/ (git-ignored). Every request the page makes is logged: none may
leave 127.0.0.1 except the one script the prebuilt Flutter client asks a CDN for (see ALLOWED).
The fixtures (one demo and one Chromium per test module) are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCREENS = Path(__file__).resolve().parent / "screens"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "demo1234"
OWNER, BANK, ADMIN = "13800000001", "13800000002", "13800000005"
# flet-web's compiled client (rive plugin) always injects this script tag; it fails offline and
# nothing in the app uses it. It is the only outside request allowed; it is still logged.
ALLOWED = re.compile(r"^https://cdn\.jsdelivr\.net/npm/@rive-app/flutter-native-wasm@[\d.]+/wasm/rive_native\.js$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body: Any = None, token: str | None = None,
          content_type: str = "application/json") -> Any:
    data = None if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method),
                                timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


@dataclass
class Demo:
    api: str
    app: str
    log: Path

    def token(self, phone: str, password: str = PASSWORD) -> str:
        return _call("POST", f"{self.api}/api/auth/login", {"phone": phone, "password": password})["access_token"]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer in {seconds:.0f} s: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)


def stop_server(proc: subprocess.Popen[bytes], log: Any) -> None:
    """Stop a server the tests started (Ctrl-C, then kill after 30 s) and close its log."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


# Every interactive node of Flutter's semantics tree (what screen readers read) and its name:
# the aria-label, else the text inside. A node without either is a control nobody can name.
UNLABELED_JS = """() => {
  const roles = ['button', 'textbox', 'checkbox', 'radio', 'tab', 'slider', 'switch', 'link', 'menuitem',
                 'combobox', 'spinbutton'];
  const out = [];
  for (const el of document.querySelectorAll('flt-semantics, input, textarea')) {
    const tag = el.tagName.toLowerCase();
    const role = el.getAttribute('role') || (tag === 'input' || tag === 'textarea' ? 'textbox' : '');
    if (!roles.includes(role)) continue;
    const name = (el.getAttribute('aria-label') || '').trim() || (el.textContent || '').trim();
    if (!name) out.push(`${role} #${el.id || tag} at ${el.getBoundingClientRect().x|0},${el.getBoundingClientRect().y|0}`);
  }
  return out;
}"""


# Interactive nodes a finger can barely hit (issue 13: touch targets of at least 44 px), on a
# phone-sized page. Only nodes in the header or well inside the scrolling body count: a node cut
# by the body's edge (under the header, a status row or the navigation bar) reports only its
# visible part.
MIN_TOUCH_PX = 44
SMALL_TARGETS_JS = """(min) => {
  const roles = ['button', 'textbox', 'checkbox', 'radio', 'tab', 'slider', 'switch', 'link', 'menuitem',
                 'combobox', 'spinbutton'];
  const h = window.innerHeight, out = [];
  for (const el of document.querySelectorAll('flt-semantics, input, textarea')) {
    const tag = el.tagName.toLowerCase();
    const role = el.getAttribute('role') || (tag === 'input' || tag === 'textarea' ? 'textbox' : '');
    if (!roles.includes(role)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const whole = r.bottom <= 56 || (r.top >= 110 && r.bottom <= h - 90);
    if (!whole || (r.width >= min && r.height >= min)) continue;
    const name = ((el.getAttribute('aria-label') || '').trim() || (el.textContent || '').trim()).slice(0, 40);
    out.push(`${role} "${name}" ${r.width|0}x${r.height|0} at ${r.x|0},${r.y|0}`);
  }
  return out;
}"""


class Browser:
    """One Chromium page at phone size, with every request it makes logged, and every screen it
    takes a picture of checked for controls without a name (``unlabeled``)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.unlabeled: dict[str, list[str]] = {}
        self.small: dict[str, list[str]] = {}  # on a phone: controls under MIN_TOUCH_PX
        self.phone = (page.viewport_size or {"width": 1280})["width"] < 600
        page.context.on("request", lambda r: self.requests.append(r.url))

    def check_labels(self, screen: str) -> None:
        """Issue 13 must-show 4: every interactive node of the screen's semantics tree has a name;
        and on a phone, every one is at least MIN_TOUCH_PX tall and wide."""
        found = self.page.evaluate(UNLABELED_JS)
        if found:
            self.unlabeled[screen] = found
        if self.phone:
            small = self.page.evaluate(SMALL_TARGETS_JS, MIN_TOUCH_PX)
            if small:
                self.small[screen] = small

    def visit_tabs(self, names: list[str], expect: list[str | re.Pattern[str]]) -> None:
        """Tap through the bottom tabs, checking each screen's labels once it has drawn."""
        for name, shows in zip(names, expect, strict=True):
            self.click_until("tab", re.compile(name), shows)
            self.page.wait_for_timeout(800)
            self.check_labels(f"tab {name}")

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=30_000)
        self.page.locator("flt-semantics-placeholder").dispatch_event("click")  # turn semantics on

    def open_at_sign_in(self, url: str, *, tries: int = 3) -> None:
        """Open the app and wait for its sign-in form (Chinese, the app's first language).

        On a loaded CI machine the first load of a fresh browser context sometimes never shows
        the form (the semantics switch is clicked before Flutter listens for it, or the app's
        session opens late): the page is loaded again, up to ``tries`` times, and a picture of
        each failed load is kept."""
        for attempt in range(1, tries + 1):
            self.open(url)
            try:
                self.page.get_by_role("textbox", name="手机号").first.wait_for(timeout=25_000)
                return
            except Exception:
                SCREENS.mkdir(exist_ok=True)
                self.page.screenshot(path=str(SCREENS / f"failed_open_{attempt}.png"))
                if attempt == tries:
                    raise

    def text(self, pattern: str | re.Pattern[str], timeout: float = 15_000) -> Any:
        found = self.page.get_by_text(pattern).first
        try:
            found.wait_for(timeout=timeout)
        except Exception:
            SCREENS.mkdir(exist_ok=True)
            self.page.screenshot(path=str(SCREENS / "failed.png"))  # what the page showed instead
            raise
        return found

    def reveal(self, target: Any, *, down: bool = True, tries: int = 60) -> None:
        """Scroll the screen (mouse wheel over the canvas) until ``target`` lies inside the
        viewport, clear of the header and the navigation bar. Flutter keeps only nodes near the
        screen in the semantics tree, and those it keeps may lie off screen: the node's box
        says where it is; while it is not in the tree, scroll towards ``down``."""
        height = (self.page.viewport_size or {"height": 844})["height"]
        self.page.mouse.move(195, height // 2)
        for _ in range(tries):
            box = target.bounding_box() if target.count() else None
            if box is not None and 60 <= box["y"] and box["y"] + box["height"] <= height - 90:
                return
            step = (400 if down else -400) if box is None else max(-1500, min(1500, box["y"] - height / 2))
            self.page.mouse.wheel(0, step)
            self.page.wait_for_timeout(250)

    def click(self, role: str, name: str | re.Pattern[str], *, scroll: bool = False, up: bool = False) -> None:
        target = self.page.get_by_role(role, name=name).first
        if scroll or up:  # elsewhere on a scrolling screen
            self.reveal(target, down=not up)
        try:
            target.wait_for(timeout=15_000)
        except Exception:
            SCREENS.mkdir(exist_ok=True)
            self.page.screenshot(path=str(SCREENS / "failed.png"))
            raise
        target.dispatch_event("click")

    def click_until(self, role: str, name: str | re.Pattern[str], expect: str | re.Pattern[str], *,
                    scroll: bool = False, up: bool = False) -> None:
        """Tap until ``expect`` shows. A tap that lands while the screen is being redrawn (a
        push arriving) can hit a node that is being replaced; a person would tap again, and so
        does this (at most three times)."""
        for attempt in range(3):
            self.click(role, name, scroll=scroll, up=up)
            try:
                # Long enough for a redraw on a loaded machine (the test modules run in
                # parallel: a fuzzed API server may be busy on the other core).
                self.text(expect, timeout=12_000)
                return
            except Exception:
                if attempt == 2:
                    raise

    def click_until_box(self, role: str, name: str | re.Pattern[str], box: str) -> None:
        """Tap until the text box labelled ``box`` shows (a form opening); taps lost to a redraw
        are repeated, as in ``click_until``."""
        for attempt in range(3):
            self.click(role, name)
            try:
                self.page.get_by_role("textbox", name=box).first.wait_for(timeout=12_000)
                return
            except Exception:
                if attempt == 2:
                    raise

    def choose_file(self, button: str, path: Path) -> None:
        """Tap ``button`` until the browser's file chooser opens, then pick ``path``. A tap that
        lands while the screen is still being built does nothing; a person taps again, and so
        does this (at most three times)."""
        for attempt in range(3):
            try:
                with self.page.expect_file_chooser(timeout=10_000) as chooser:
                    self.click("button", button)
                chooser.value.set_files(str(path))
                return
            except Exception:
                SCREENS.mkdir(exist_ok=True)  # what the screen showed after each tap in vain
                self.page.screenshot(path=str(SCREENS / f"failed_choose_file_{attempt}.png"))
                if attempt == 2:
                    raise

    def switch_language(self, to: str, expect: str | re.Pattern[str]) -> None:
        """Tap the header's language button until ``expect`` shows."""
        self.click_until("button", to, expect)

    def click_nth(self, role: str, name: str | re.Pattern[str], n: int) -> None:
        """The n-th of several same-named buttons (one per list row), scrolled into view."""
        target = self.page.get_by_role(role, name=name)
        for _ in range(40):  # rows further down join the tree as the list scrolls
            if target.count() > n:
                break
            self.page.mouse.wheel(0, 400)
            self.page.wait_for_timeout(250)
        self.reveal(target.nth(n))
        target.nth(n).wait_for(timeout=15_000)
        target.nth(n).dispatch_event("click")

    def to_top(self, pattern: str | re.Pattern[str]) -> None:
        """Scroll until a text matching ``pattern`` sits near the top of the screen."""
        found = self.text(pattern)
        self.page.mouse.move(195, 300)
        for _ in range(30):
            box = found.bounding_box()
            if box is not None and 60 <= box["y"] <= 260:
                return
            self.page.mouse.wheel(0, 400 if box is None else max(-1500, min(1500, box["y"] - 150)))
            self.page.wait_for_timeout(250)

    def on_screen(self, pattern: str | re.Pattern[str]) -> bool:
        box = self.page.get_by_text(pattern).first.bounding_box()
        height = (self.page.viewport_size or {"height": 844})["height"]
        return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= height

    def scroll_to(self, pattern: str | re.Pattern[str], *, down: bool = True) -> None:
        """Scroll the current screen until a text matching ``pattern`` is on it."""
        self.reveal(self.page.get_by_text(pattern).first, down=down)
        self.text(pattern)

    def fill(self, label: str, value: str) -> None:
        box = self.page.get_by_role("textbox", name=label).first
        box.wait_for(timeout=15_000)
        # Flutter attaches its editing element on focus: focus, then type as a person would.
        box.click()
        self.page.wait_for_timeout(250)
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.type(value)
        self.page.wait_for_timeout(300)  # the change event reaches the app's Python before a click

    def pull_down(self, distance: int = 360) -> None:
        """Pull the screen down with a finger (touch events through the DevTools protocol, as a
        phone sends them): the pull-to-refresh gesture."""
        cdp = self.page.context.new_cdp_session(self.page)
        x, y0 = 195, 220
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y0}]})
        for i in range(1, 19):
            cdp.send("Input.dispatchTouchEvent",
                     {"type": "touchMove", "touchPoints": [{"x": x, "y": y0 + distance * i / 18}]})
            self.page.wait_for_timeout(16)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()

    def shot(self, name: str) -> Path:
        """Wait until the canvas is painted and still (two equal, non-blank screenshots)."""
        self.page.wait_for_load_state("networkidle")
        last, png = None, b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            png = self.page.screenshot()
            digest = hashlib.sha256(png).hexdigest()
            if digest == last and len(set(png[200:4000])) > 8:
                break
            last = digest
            time.sleep(0.4)
        SCREENS.mkdir(exist_ok=True)
        path = SCREENS / f"{name}.png"
        path.write_bytes(png)
        self.check_labels(name)
        return path

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests
                if u.split("/")[2].split(":")[0] not in ("127.0.0.1", "localhost") and u.startswith("http")]


def _page(chromium: Any, width: int, height: int) -> Browser:
    context = chromium.new_context(viewport={"width": width, "height": height}, is_mobile=True,
                                   has_touch=True, device_scale_factor=1, locale="zh-CN")
    return Browser(context.new_page())


def _call_once(method: str, url: str, body: Any, token: str) -> Any:
    """A create that may have been done by an earlier test on the same demo: 409 is fine."""
    try:
        return _call(method, url, body, token)
    except urllib.error.HTTPError as exc:
        if exc.code != 409:
            raise
        return None


def _court(demo: Demo) -> str:
    _call_once("POST", f"{demo.api}/api/users", {"phone": "13800000099", "password": "court-operator-1",
                                                 "role": "dept_operator", "department": "court",
                                                 "display_name": "法院 操作员"}, demo.token(ADMIN))
    return demo.token("13800000099", "court-operator-1")


def _make_red_warning(demo: Demo, owner_uscc: str, bank_id: int, key: str = "E2E-DISHONEST-1") -> None:
    """The owner applies to the manager's bank (so the bank watches the firm); then the court
    lists the firm as a dishonest debtor, a red warning. Safe to repeat on the same demo."""
    owner = demo.token(OWNER)
    applied = _call("GET", f"{demo.api}/api/applications", token=owner)
    if not any(a["bank_id"] == bank_id for a in applied):  # (a listed firm matches nothing)
        matched = _call("POST", f"{demo.api}/api/financing/match",
                        {"amount_yuan": 300_000, "term_months": 12, "purpose": "备货"}, owner)
        product = next(m["product"]["id"] for m in matched["matches"]
                       if m["fits"] and m["product"]["bank_id"] == bank_id)
        _call("POST", f"{demo.api}/api/applications", {
            "product_ids": [product], "amount_yuan": 300_000, "term_months": 12, "purpose": "备货",
            "confirm_consent": True}, owner)
    csv = ("record_key,uscc,event_date,amount_yuan\n"
           f"{key},{owner_uscc},{time.strftime('%Y-%m-%d')},800000\n")
    report = _call("POST", f"{demo.api}/api/ingest/dishonest_debtor", csv, _court(demo), content_type="text/csv")
    assert report["accepted"] + report["duplicates"] == 1, report


def _wait_for(what: str, check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.5)


# From the sign-in tap to the first screen with its live stream connected: the app loads the
# role's home and opens the stream. A clean-clone CI run, both browser modules and the API fuzz
# side by side on 2 cores, once showed the bank's home still blank after 15 s.
SIGNED_IN_MS = 40_000


def _sign_in(b: Browser, phone: str, *, zh: bool) -> None:
    b.fill("手机号" if zh else "Mobile number", phone)
    b.fill("密码" if zh else "Password", PASSWORD)
    b.click("button", "登录" if zh else "Sign in")


def _sign_out(b: Browser, *, zh: bool) -> None:
    b.click_until("tab", re.compile(r"^我的" if zh else r"^Me\b"), "退出登录" if zh else "Sign out")
    b.click("button", "退出登录" if zh else "Sign out", scroll=True)
    b.page.get_by_role("textbox", name="手机号" if zh else "Mobile number").first.wait_for(timeout=15_000)


def _most_to_weigh(demo: Demo, token: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """The bank's pending application with open warnings and exposure, by its place in the
    queue (oldest first, as the app lists it): (index, detail, the firm's warnings)."""
    pending = _call("GET", f"{demo.api}/api/applications?status=pending&limit=100", token=token)
    for i, a in enumerate(pending):
        detail = _call("GET", f"{demo.api}/api/applications/{a['id']}", token=token)
        warnings = _call("GET", f"{demo.api}/api/firms/{a['firm_uscc']}/warnings?status=all", token=token)
        x = detail["exposure"] or {}
        if warnings["open_red"] + warnings["open_yellow"] and (
                x.get("bank_debt_yuan") or x.get("guarantees_given") or x.get("guarantees_received")):
            return i, detail, warnings
    raise AssertionError("no pending applicant of the demo bank has warnings and exposure")


# -- issue 13 must-show 1: the back office, and one real task per role ---------------------------

OPERATOR, SUBSCRIBER = "13800000004", "13800000003"

def _cell(f: dict[str, Any], n: int, uscc: str) -> str:
    """A valid value of a feed column (by its type), for row ``n``."""
    kind = f["type"]
    if kind == "key":
        return f"E2E-OFFICE-{n}"
    if kind == "uscc":
        return uscc
    if kind == "date":
        return "2026-10-01"
    if kind == "money":
        return "1234.50"
    if kind == "int":
        return "3"
    if kind == "number":
        return "1.5"
    if kind == "enum":
        return f["choices"][0]
    return "e2e"


def _feed_with_bad_rows(demo: Demo, folder: Path) -> tuple[Path, str, int]:
    """A CSV of the operator's first feed: four good rows and two bad ones (rows 2 and 5: a
    USCC that does not check, a date that does not exist). Returns the file, the feed and the
    number of good rows."""
    token = demo.token(OPERATOR)
    source = _call("GET", f"{demo.api}/api/ingest/sources", token=token)[0]
    uscc = _call("GET", f"{demo.api}/api/firms?limit=1", token=token)
    uscc = (uscc["items"] if isinstance(uscc, dict) else uscc)[0]["uscc"]
    stamp = int(time.time())
    names = [f["name"] for f in source["fields"]]
    rows = []
    for n in range(6):
        row = [_cell(f, stamp * 10 + n, uscc) for f in source["fields"]]
        for i, f in enumerate(source["fields"]):
            if n == 1 and f["type"] == "uscc":
                row[i] = "91330000XXXXXXXXX0"
            if n == 4 and f["type"] == "date" and f["required"]:
                row[i] = "2026-02-30"
        rows.append(row)
    path = folder / f"{source['code']}-e2e.csv"
    path.write_text("\n".join(",".join(r) for r in [names, *rows]) + "\n", encoding="utf-8")
    return path, source["code"], 4


def _desktop(chromium: Any) -> Browser:
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1, locale="zh-CN")
    return Browser(context.new_page())

