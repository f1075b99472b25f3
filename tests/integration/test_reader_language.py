"""Server texts in the reader's language (issue 13, the must-show): many bad requests across the
routes, each sent once by a Chinese reader and once by an English one, and every text the
server writes for people in the answer (an error's ``detail`` and ``extra`` messages, a rejected
row's ``message``, a timeline's words) must read in the reader's language: no English sentence
reaches a Chinese reader, no Chinese an English one (but for quoted data such as firm names).

The checks are the small helpers :func:`zh_problem`, :func:`en_problem` and
:func:`answer_problems`; ``tests/e2e/test_api_fuzz.py`` applies them to the fuzzer's answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import httpx
import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

ZH = {"accept-language": "zh-CN,zh;q=0.9"}
EN = {"accept-language": "en"}
LANG_HEADERS = {"zh": ZH, "en": EN}

# -- the checks ------------------------------------------------------------------------------------

CHINESE = re.compile(r"[\u4e00-\u9fff]")
#: Chinese characters and Chinese punctuation (full-width forms, 、。「」《》 ...).
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
#: Quoted names and data: `field`, 'value', "value", “…”, ‘…’, 「…」, 《…》.
QUOTED = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"|“[^”]*”|‘[^’]*’|「[^」]*」|《[^》]*》")
#: Paths and media types (/api/firms/x?limit=1, multipart/form-data).
PATHS = re.compile(r"\S*/\S*")
#: Codes and field names: words with an underscore, a dot, a digit or a $ (amount_yuan,
#: firm.name, rules[0], RFC3339, $.term_months, 91331004MA2BX0001X), and numbers.
CODES = re.compile(r"[\w$]*(?:[_\d$]|\.\w|\[)[\w$.\[\]]*")
#: Two English words in a row, as in a sentence (a list of codes, "vat, income", is not one).
ENGLISH_RUN = re.compile(r"[A-Za-z]{2,}[ \t]+[A-Za-z]{2,}")
#: The parenthesised words an English text quotes (a bank's own words, "(逾期90天)").
PARENTHESISED = re.compile(r"\([^()]*\)")


def _without(text: str, data: Iterable[str]) -> str:
    """``text`` without the given data, each where it stands as a whole (not inside a word)."""
    for item in sorted({d.strip() for d in data if d.strip() and d.strip() in text}, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(item)}(?![A-Za-z0-9])", " ", text)
    return text


def zh_problem(text: str, data: Iterable[str] = ()) -> str | None:
    """Why ``text`` does not read as Chinese (None when it does): it must have Chinese
    characters and no run of two or more English words outside field names, quoted or
    backticked names, paths, codes and numbers, and the given ``data`` (names)."""
    if not text:
        return None
    if not CHINESE.search(text):
        return "no Chinese"
    rest = _without(text, data)
    rest = CODES.sub(" ", PATHS.sub(" ", QUOTED.sub(" ", rest)))
    m = ENGLISH_RUN.search(rest)
    return f"English words {m.group(0)!r}" if m else None


def en_problem(text: str, data: Iterable[str] = ()) -> str | None:
    """Why ``text`` does not read as English (None when it does): no Chinese character or
    Chinese punctuation outside quoted data (firm names, a bank's own words) and ``data``."""
    if not text:
        return None
    rest = PARENTHESISED.sub(" ", QUOTED.sub(" ", _without(text, data)))
    m = CJK.search(rest)
    return f"Chinese {rest[max(0, m.start() - 10):m.end() + 10]!r}" if m else None


def problem(text: str, lang: str, data: Iterable[str] = ()) -> str | None:
    return zh_problem(text, data) if lang == "zh" else en_problem(text, data)


def server_texts(body: Any) -> list[tuple[str, str]]:
    """The texts for people in an answer's body, as (where, text): an error's ``detail``, the
    ``message`` of each ``extra`` entry, each rejected or repeated row's ``message`` and each
    timeline event's ``note``."""
    found: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return found
    if isinstance(body.get("detail"), str):
        found.append(("detail", body["detail"]))
    extra = body.get("extra")
    if isinstance(extra, list):
        for i, e in enumerate(extra):
            if isinstance(e, dict) and isinstance(e.get("message"), str):
                found.append((f"extra[{i}].message", e["message"]))
            elif isinstance(e, str):
                found.append((f"extra[{i}]", e))
    elif isinstance(extra, dict):
        found += [(f"extra.{k}", v) for k, v in extra.items() if k in ("message", "detail") and isinstance(v, str)]
    if isinstance(body.get("message"), str):
        found.append(("message", body["message"]))
    for key in ("rejected", "repeated"):
        if isinstance(body.get(key), list):
            found += [(f"{key}[{i}].message", e["message"]) for i, e in enumerate(body[key])
                      if isinstance(e, dict) and isinstance(e.get("message"), str)]
    if isinstance(body.get("events"), list):
        found += [(f"events[{i}].note", e["note"]) for i, e in enumerate(body["events"])
                  if isinstance(e, dict) and isinstance(e.get("note"), str)]
    return found


def body_problems(body: Any, lang: str, data: Iterable[str] = (), where: str = "") -> list[str]:
    """Every server text in a response's (decoded JSON) body that is not in ``lang``."""
    data = list(data)
    return [f"{where} {key}: {why}: {text!r}".lstrip() for key, text in server_texts(body)
            if (why := problem(text, lang, data))]


def answer_problems(response: httpx.Response, lang: str, data: Iterable[str] = ()) -> list[str]:
    """Every server text in ``response`` that is not in ``lang``, each with the request."""
    try:
        body = response.json()
    except ValueError:
        return []
    where = f"[{lang}] {response.request.method} {response.request.url.path} -> {response.status_code}"
    return body_problems(body, lang, data, where)


def strings_in(value: Any) -> list[str]:
    """Every string inside a request's values (echoed data is the caller's, in any language)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_in(k) + strings_in(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return []


def test_the_checks_themselves() -> None:
    assert zh_problem("uscc：平台上没有统一社会信用代码为 91331004MA2BX0001X 的企业") is None
    assert zh_problem("amount_yuan：应为 `int`，实为 `str`") is None
    assert zh_problem("POST /api/applications?limit=x 的请求未通过校验") is None
    assert zh_problem("此操作需要 owner 或 admin 角色") is None
    assert zh_problem("uscc: no firm with code 91331004MA2BX0001X on the platform") == "no Chinese"
    assert zh_problem("uscc：企业 is not found") is not None
    assert zh_problem("名称 'Acme Trading Co' 有误") is None
    assert zh_problem("应为 vat, income 之一，实为 'nothing'") is None
    assert zh_problem("文件不是有效的 UTF-8 文本（invalid start byte）") is not None
    assert en_problem("uscc: no firm with code 91331004MA2BX0001X on the platform") is None
    assert en_problem("firm '测试企业有限公司' has no consent") is None
    assert en_problem("Reported in default by the bank, ¥280,000 outstanding (逾期90天)") is None
    assert en_problem("uscc：平台上没有") is not None
    assert en_problem("firm 测试企业有限公司 has no consent", ["测试企业有限公司"]) is None
    assert zh_problem("此操作需要 owner 角色", ["n", "w"]) is None  # data inside a word stays


# -- the requests --------------------------------------------------------------------------------

def _full(first17: str) -> str:
    from server.uscc import check_character

    return first17 + check_character(first17)


UNKNOWN_USCC = _full("91331004MA2BX9999")
BAD_USCC = UNKNOWN_USCC[:17] + ("0" if UNKNOWN_USCC[17] != "0" else "1")


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], demo) -> dict[str, Any]:
    """The names in the demo region (data, quoted as written in either language), a firm, a
    pending application and the manager's applications."""
    from server.tables.financing import Bank, LoanProduct
    from server.tables.firms import Firm
    from server.tables.ingest import Department
    from server.tables.users import User

    names: set[str] = set()
    names |= {r["name"] for r in await Firm.select(Firm.name)}
    names |= {r["name"] for r in await Bank.select(Bank.name)}
    names |= {r["name"] for r in await LoanProduct.select(LoanProduct.name)}
    names |= {r["name_zh"] for r in await Department.select(Department.name_zh)}
    names |= {r["display_name"] for r in await User.select(User.display_name)}
    firm = await Firm.select(Firm.uscc).first()
    apps = (await client.get("/api/applications", params={"limit": 50}, headers=tokens["bank_manager"])).json()
    assert isinstance(apps, list) and apps, apps
    pending = next((a["id"] for a in apps if a["status"] == "pending"), apps[0]["id"])
    return {"names": names, "uscc": firm["uscc"], "apps": [a["id"] for a in apps], "pending": pending}


def _requests(world: dict[str, Any]) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    """(method, path, role or None or "forged", httpx keywords): requests the server refuses."""
    uscc, pending = world["uscc"], world["pending"]
    decision = f"/api/applications/{pending}/decision"
    return [
        # unauthenticated, forged tokens, unknown routes and methods
        ("GET", "/api/me", None, {}),
        ("GET", "/api/applications", "forged", {}),
        ("GET", "/api/nowhere", "owner", {}),
        ("DELETE", "/api/me", "owner", {}),
        # sign-in, tokens and accounts
        ("POST", "/api/auth/login", None, {"json": {"phone": "13800000001", "password": "wrong-password"}}),
        ("POST", "/api/auth/login", None, {"json": {"phone": "12345", "password": ""}}),
        ("POST", "/api/auth/login", None, {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/api/auth/refresh", None, {"json": {"refresh_token": "x" * 40}}),
        ("POST", "/api/auth/logout", None, {"json": {}}),
        ("POST", "/api/auth/register", None, {"json": {"phone": "13912340000", "password": "password"}}),
        ("POST", "/api/auth/register", None, {"json": {"phone": "13912340000", "password": "long-enough-9",
                                                        "role": "admin", "colour": "red"}}),
        ("POST", "/api/auth/register/verify", None, {"json": {"phone": "13912340000", "code": "000000"}}),
        ("POST", "/api/users", "admin", {"json": {"phone": "13912340001", "password": "long-enough-9",
                                                   "role": "bank_manager"}}),
        ("POST", "/api/users", "admin", {"json": {"phone": "13912340001", "password": "long-enough-9",
                                                   "role": "dept_operator", "department": "nowhere"}}),
        ("POST", "/api/users", "owner", {"json": {}}),
        ("GET", "/api/users", "admin", {"params": {"limit": 0, "role": "boss"}}),
        ("GET", "/api/users", "admin", {"params": {"limit": "many"}}),
        ("PATCH", "/api/me", "owner", {"json": {"language": "fr"}}),
        ("PATCH", "/api/me", "owner", {"json": {"language": 5}}),
        ("POST", "/api/me/firm-claim", "owner", {"json": {"uscc": BAD_USCC}}),
        ("POST", "/api/me/firm-claim", "subscriber", {"json": {"uscc": uscc}}),
        ("POST", "/api/me/firm-claim/verify", "owner", {"json": {"uscc": uscc, "code": "12"}}),
        # firms, USCCs
        ("GET", f"/api/firms/{BAD_USCC}", "admin", {}),
        ("GET", f"/api/firms/{UNKNOWN_USCC}", "admin", {}),
        ("GET", "/api/firms/short", "admin", {}),
        ("GET", f"/api/firms/{UNKNOWN_USCC}/evaluation", "bank_manager", {}),
        ("GET", f"/api/firms/{uscc}/evaluation", "bank_manager", {}),
        ("GET", f"/api/firms/{BAD_USCC}/ties", "admin", {}),
        ("GET", f"/api/firms/{UNKNOWN_USCC}/warnings", "admin", {}),
        ("GET", f"/api/firms/{uscc}/access-log", "subscriber", {}),
        ("GET", "/api/firms", "admin", {"params": {"limit": "abc"}}),
        # consent, objections, policies
        ("POST", "/api/consents", "owner", {"json": {"bank_id": 99999, "days": 30}}),
        ("POST", "/api/consents", "owner", {"json": {"bank_id": 1, "days": 0}}),
        ("POST", "/api/consents", "bank_manager", {"json": {"bank_id": 1, "days": 30}}),
        ("DELETE", "/api/consents/999999", "owner", {}),
        ("POST", "/api/objections", "owner", {"json": {}}),
        ("POST", "/api/objections", "owner", {"json": {"record_id": 999999999, "reason": "错误"}}),
        ("GET", "/api/objections/999999", "admin", {}),
        ("POST", "/api/objections/999999/resolution", "dept_operator", {"json": {"decision": "maybe"}}),
        ("GET", "/api/policies/999999", "admin", {}),
        ("POST", "/api/policies", "admin", {"json": {"name": ""}}),
        ("POST", "/api/policies/999999/applications", "owner", {"json": {}}),
        # financing and the fund
        ("POST", "/api/financing/match", "owner", {"json": {"amount_yuan": -5, "term_months": 0}}),
        ("POST", "/api/applications", "owner", {"json": {"amount_yuan": 100_000, "term_months": 12,
                                                          "purpose": "周转", "product_ids": [999999],
                                                          "confirm_consent": True}}),
        ("POST", "/api/applications", "owner", {"json": {"amount_yuan": 100_000, "term_months": 12,
                                                          "purpose": "周转", "product_ids": [1],
                                                          "confirm_consent": False}}),
        ("POST", "/api/applications", "bank_manager", {"json": {}}),
        ("GET", "/api/applications/999999", "owner", {}),
        ("GET", "/api/applications", "owner", {"params": {"status": "lost", "limit": -1}}),
        ("POST", decision, "bank_manager", {"json": {"decision": "approve", "amount_yuan": 10**12,
                                                      "rate_bp": 1, "term_months": 999}}),
        ("POST", decision, "bank_manager", {"json": {"decision": "decline", "reason_code": "whim"}}),
        ("POST", decision, "bank_manager", {"json": {"decision": "approve", "amount_yuan": 1,
                                                      "rate_bp": 400, "term_months": 12}}),
        ("POST", decision, "owner", {"json": {"decision": "approve"}}),
        ("POST", "/api/loans/999999/repaid", "bank_manager", {"json": {}}),
        ("POST", "/api/loans/999999/default", "bank_manager", {"json": {"outstanding_yuan": -1}}),
        ("POST", "/api/fund/claims", "subscriber", {"json": {}}),
        # scores and models
        ("POST", "/api/weight-profiles", "admin", {"json": {"name": "x", "weights": {"nothing": 2}}}),
        ("POST", "/api/weight-profiles/preview", "admin", {"json": {"weights": "heavy"}}),
        ("POST", "/api/override-rules", "admin", {"json": {"rules": [{"when": "never"}]}}),
        ("POST", "/api/models/nothing-like-it/promote", "admin", {}),
        ("POST", "/api/models/train", "owner", {}),
        # risk, subscriptions, notifications, webhooks
        ("GET", "/api/risk/circles", "owner", {}),
        ("POST", "/api/risk/scan", "subscriber", {}),
        ("GET", "/api/warnings", "admin", {"params": {"since": "yesterday"}}),
        ("POST", "/api/subscriptions", "subscriber", {"json": {"uscc": BAD_USCC}}),
        ("POST", "/api/subscriptions", "subscriber", {"json": {"uscc": UNKNOWN_USCC}}),
        ("DELETE", "/api/subscriptions/999999", "subscriber", {}),
        ("POST", "/api/notifications/999999/read", "subscriber", {}),
        ("GET", "/api/notifications", "subscriber", {"params": {"limit": 100000}}),
        ("PUT", "/api/banks/me/webhook", "bank_manager", {"json": {"url": "http://127.0.0.1/hook"}}),
        ("PUT", "/api/banks/me/webhook", "owner", {"json": {"url": "https://example.com/hook"}}),
        # ingest: a whole batch refused
        ("POST", "/api/ingest/nowhere", "dept_operator", {"content": b"a,b\n1,2\n", "headers": {"content-type": "text/csv"}}),
        ("POST", "/api/ingest/tax_monthly", "dept_operator", {"content": b"record_key,uscc\nX,Y\n",
                                                               "headers": {"content-type": "text/csv"}}),
        ("POST", "/api/ingest/tax_monthly", "subscriber", {"content": b"a\n", "headers": {"content-type": "text/csv"}}),
        ("POST", "/api/ingest/tax_monthly", "dept_operator", {"content": b"\xff\xfe\x00bad",
                                                               "headers": {"content-type": "text/csv"}}),
        ("GET", "/api/ingest/batches/999999/rejected", "dept_operator", {}),
    ]


async def _send(client: httpx.AsyncClient, tokens: dict[str, dict[str, str]], lang: str, method: str, path: str,
                who: str | None, kwargs: dict[str, Any]) -> httpx.Response:
    headers = {**LANG_HEADERS[lang]}
    if who == "forged":
        headers["authorization"] = "Bearer not.a.token"
    elif who is not None:
        headers.update(tokens[who])
    kwargs = dict(kwargs)
    headers.update(kwargs.pop("headers", {}))
    return await client.request(method, path, headers=headers, **kwargs)


async def test_every_refusal_reads_in_the_readers_language(client, tokens, world) -> None:
    problems: list[str] = []
    refused = 0
    for method, path, who, kwargs in _requests(world):
        for lang in ("zh", "en"):
            r = await _send(client, tokens, lang, method, path, who, kwargs)
            refused += 400 <= r.status_code < 500
            problems += answer_problems(r, lang, world["names"])
    assert refused >= len(_requests(world)), "most of these requests are refused in both languages"
    assert not problems, f"{len(problems)} texts in the wrong language:\n" + "\n".join(problems)


async def test_rejected_rows_read_in_the_readers_language(client, tokens, world) -> None:
    uscc, bad = world["uscc"], BAD_USCC
    problems: list[str] = []
    for lang in ("zh", "en"):
        csv = ("record_key,uscc,event_date,category,amount_yuan,arrears_yuan\n"
               f"L-{lang}-1,{bad},2025-01-31,vat,100,0\n"
               f"L-{lang}-2,{uscc},2099-12-31,vat,100,0\n"
               f"L-{lang}-3,{uscc},2025-02-28,vat,-100,0\n"
               f"L-{lang}-4,{uscc},2025-03-31\n"
               f"L-{lang}-5,{uscc},2025-13-01,nothing,abc,0\n"
               f"L-{lang}-6,{UNKNOWN_USCC},2025-01-31,vat,100,0\n"
               f"L-{lang}-5,{uscc},2025-01-31,vat,100,0\n")
        r = await _send(client, tokens, lang, "POST", "/api/ingest/tax_monthly", "dept_operator",
                        {"content": csv.encode(), "headers": {"content-type": "text/csv"}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rejected"], body
        problems += answer_problems(r, lang, world["names"])
    assert not problems, "\n".join(problems)


async def test_timelines_read_in_the_readers_language(client, tokens, world) -> None:
    problems: list[str] = []
    notes = 0
    for app_id in world["apps"][:20]:
        for lang in ("zh", "en"):
            r = await _send(client, tokens, lang, "GET", f"/api/applications/{app_id}", "bank_manager", {})
            assert r.status_code == 200, r.text
            notes += sum(bool(e.get("note")) for e in r.json().get("events", []))
            problems += answer_problems(r, lang, world["names"])
    assert notes, "the demo book's applications have timelines"
    assert not problems, "\n".join(problems)


# -- the account's setting -----------------------------------------------------------------------

@pytest.fixture
async def bare(app) -> httpx.AsyncClient:
    """A client that sends no Accept-Language (the app is already running for ``client``)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


async def test_the_account_setting_chooses_when_the_request_names_no_language(client, bare, world) -> None:
    await make_user("13911119001", "owner")
    auth = await login(client, "13911119001")
    missing = "/api/applications/999999"

    # no setting, no header: Chinese (also for the framework's own texts, before sign-in)
    me = await bare.get("/api/me", headers=auth)
    assert me.status_code == 200 and me.json()["language"] is None
    r = await bare.get(missing, headers=auth)
    assert r.status_code == 404 and not zh_problem(r.json()["detail"]), r.text
    r = await bare.get("/api/me")
    assert r.status_code == 401 and not zh_problem(r.json()["detail"]), r.text

    # the account reads English: English without a header, or with one naming neither language
    r = await bare.patch("/api/me", json={"language": "en"}, headers=auth)
    assert r.status_code == 200 and r.json()["language"] == "en", r.text
    for headers in ({}, {"accept-language": "fr-FR,de;q=0.8"}):
        r = await bare.get(missing, headers={**auth, **headers})
        assert r.status_code == 404, r.text
        assert CHINESE.search(r.json()["detail"]) is None and not en_problem(r.json()["detail"]), r.text
        r = await bare.post("/api/consents", json={"bank_id": "one"}, headers={**auth, **headers})
        assert r.status_code == 400 and not CHINESE.search(r.json()["detail"]), r.text
    # ... but a header naming Chinese wins
    r = await bare.get(missing, headers={**auth, **ZH})
    assert not zh_problem(r.json()["detail"]), r.text

    # anything but zh, en or null is refused, naming the field, in the reader's language
    for lang in ("zh", "en"):
        r = await bare.patch("/api/me", json={"language": "fr"}, headers={**auth, **LANG_HEADERS[lang]})
        assert r.status_code == 422 and r.json()["detail"].startswith("language"), r.text
        assert not problem(r.json()["detail"], lang), r.text
    r = await bare.patch("/api/me", json={"language": "EN"}, headers=auth)
    assert r.status_code == 422, r.text

    # null: back to the header, else Chinese
    r = await bare.patch("/api/me", json={"language": None}, headers=auth)
    assert r.status_code == 200 and r.json()["language"] is None
    r = await bare.get(missing, headers=auth)
    assert not zh_problem(r.json()["detail"]), r.text
