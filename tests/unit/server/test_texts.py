"""One catalogue for the server's texts (issue 13): every text the server writes for people is a
``t(...)``/``say(...)`` of a template the Chinese catalogue has, with the same fields; no
people-facing exception or ``detail`` is a bare English string. Also the reader's language
(``negotiate``), money by locale, and the framework's own messages in Chinese.

The rules read the source (an AST of every module of ``server/`` but the migrations, the demo
and the CLI) and report each offender as ``file:line``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from litestar.exceptions import HTTPException

from server.texts import Text, money, negotiate, t
from server.texts.framework import FRAMEWORK_ZH, HTTP_PHRASES_ZH, framework_text
from server.texts.zh import ZH

ROOT = Path(__file__).resolve().parents[3]
SERVER = ROOT / "server"
SKIPPED = ("piccolo_migrations", "demo")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
#: Arguments of a people-facing exception that carry its message.
MESSAGE_PARAMS = {"detail", "message", "args"}


def server_modules() -> list[tuple[Path, str]]:
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if any(part in SKIPPED for part in rel.parts) or rel.as_posix() == "server/cli.py":
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((path, ".".join(parts)))
    return found


def fields_of(template: str) -> set[str]:
    return {re.split(r"[.\[]", name)[0] for _, name, _, _ in string.Formatter().parse(template)
            if name is not None}


def _text_functions(tree: ast.Module) -> set[str]:
    """The local names of ``server.texts.t`` and ``say`` in a module."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "server.texts":
            names |= {a.asname or a.name for a in node.names if a.name in ("t", "say")}
    return names


def _is_plain_string(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr)


def _resolve(node: ast.AST, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _is_people_facing(cls: Any) -> bool:
    """An exception whose message reaches people: Litestar's HTTP exceptions (and ours built on
    them), and the ingest's refusals of a whole batch."""
    if not inspect.isclass(cls) or not issubclass(cls, Exception):
        return False
    return issubclass(cls, HTTPException) or any(c.__name__ == "IngestError" for c in cls.__mro__)


def _message_params(cls: type) -> list[str]:
    """The names that positional arguments of ``cls(...)`` bind to ("args" for ``*args``)."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return ["args"]
    names = []
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            names.append("args")
            break
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
    return names


@dataclass
class Offence:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def check_source(source: str, filename: str, namespace: dict[str, Any],
                 catalogue: dict[str, str]) -> list[Offence]:
    """Every offence against the two rules in one module's source."""
    tree = ast.parse(source, filename)
    text_functions = _text_functions(tree) or {"t", "say"} & set(namespace)
    found: list[Offence] = []

    def offence(node: ast.AST, what: str) -> None:
        found.append(Offence(f"{filename}:{getattr(node, 'lineno', 0)}", what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            # (a) t("template", **fields): a literal template in the catalogue, the same fields
            if isinstance(node.func, ast.Name) and node.func.id in text_functions:
                if not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                    offence(node, f"{node.func.id}() without a literal template")
                    continue
                template = node.args[0].value
                given = {k.arg for k in node.keywords}
                if None in given:
                    offence(node, f"{node.func.id}({template!r}, **...): fields must be named")
                    continue
                if given != fields_of(template):
                    offence(node, f"{template!r}: fields {sorted(given)} given, the template has "
                                  f"{sorted(fields_of(template))}")
                if template not in catalogue:
                    offence(node, f"{template!r} is not in the catalogue (server/texts/zh*.py)")
                elif fields_of(catalogue[template]) != fields_of(template):
                    offence(node, f"{template!r}: the Chinese has fields {sorted(fields_of(catalogue[template]))}")
                continue
            # (b) a people-facing exception made with a bare string
            cls = _resolve(node.func, namespace)
            if _is_people_facing(cls):
                names = _message_params(cls)
                for i, arg in enumerate(node.args):
                    name = names[i] if i < len(names) else names[-1] if names and names[-1] == "args" else ""
                    if name in MESSAGE_PARAMS and _is_plain_string(arg):
                        offence(arg, f"{cls.__name__}(...) with a plain string: use t(...)")
            for kw in node.keywords:
                if kw.arg in ("detail", "message") and _is_plain_string(kw.value) and (
                        kw.arg == "detail" or _is_people_facing(cls)):
                    offence(kw.value, f"{kw.arg}= a plain string: use t(...)")
        elif isinstance(node, ast.Dict):
            # a response body written by hand: {"detail": "..."}
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "detail" and value is not None
                        and _is_plain_string(value)):
                    offence(value, '"detail": a plain string: use t(...)')
    return found


def test_every_text_is_in_the_catalogue_and_no_exception_says_bare_english() -> None:
    offences: list[Offence] = []
    for path, module in server_modules():
        namespace = vars(importlib.import_module(module))
        offences += check_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)),
                                 namespace, ZH)
    assert not offences, f"{len(offences)} offences:\n" + "\n".join(map(str, offences))


@pytest.mark.parametrize(("package", "refusal", "at_least"), [
    ("scoring", "InvalidValue", 8),  # the weights' and the override rules' checks
    ("alerts", "BlockedTarget", 6),  # the webhook guard
])
def test_every_refusal_of_the_libraries_is_in_the_catalogue(package: str, refusal: str, at_least: int) -> None:
    """``scoring`` and ``alerts`` refuse bad values with ``InvalidValue`` / ``BlockedTarget``
    (template, **fields); the API words them by that template (``_scoring_problem``,
    ``_blocked_problem``), so each must be a literal in the catalogue with the same fields."""
    found: list[tuple[str, str, set[str]]] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == refusal:
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert node.args, f"{where}: no template"
                first = node.args[0]  # a literal, or a choice between two literals
                for arg in (first.body, first.orelse) if isinstance(first, ast.IfExp) else (first,):
                    assert isinstance(arg, ast.Constant), f"{where}: not a literal template"
                    found.append((where, arg.value, {k.arg for k in node.keywords} - {"detail"}))
    assert len(found) >= at_least, found
    for where, template, given in found:
        assert template in ZH, f"{where}: {template!r} is not in the catalogue"
        assert given == fields_of(template) == fields_of(ZH[template]), f"{where}: {template!r} fields"


def test_a_scoring_refusal_reaches_a_chinese_reader_in_chinese() -> None:
    from scoring.overrides import OverrideRule
    from scoring.weights import Adjustment
    from server.scores.services import _scoring_problem

    for make in (lambda: Adjustment("dimension:luck", 1.0), lambda: OverrideRule("bank_default", min_days=5),
                 lambda: OverrideRule("no_such_rule")):
        with pytest.raises(ValueError) as refused:
            make()
        text = _scoring_problem(refused.value)
        assert isinstance(text, Text) and text.render("en") == str(refused.value)
        assert CHINESE.search(text.render("zh")) and not re.search(r"[A-Za-z]{4,} [a-z]{3,}", text.render("zh")), \
            text.render("zh")


def _literal(template: str) -> str:
    return "".join(lit for lit, _, _, _ in string.Formatter().parse(template))


def test_every_catalogue_entry_is_chinese_with_the_same_fields() -> None:
    """Every Chinese template is Chinese: it has Chinese characters, or it is glue that joins
    fields with punctuation and at most one name ("{field}：{problem}", "uscc：{problem}");
    and it has the English's fields."""
    bad = [f"{en!r} -> {zh!r}" for en, zh in ZH.items()
           if fields_of(zh) != fields_of(en)
           or not (CHINESE.search(zh) or len(re.findall(r"[A-Za-z]{2,}", _literal(zh))) <= 1)]
    assert not bad, "catalogue entries without Chinese or with other fields:\n" + "\n".join(bad)


def test_a_field_first_text_keeps_its_field_before_a_full_width_colon() -> None:
    bad = []
    for en, zh in ZH.items():
        m = re.match(r"([a-z_]+): ", en)
        if m and not zh.startswith(m[1] + "："):
            bad.append(f"{en!r} -> {zh!r}")
    assert not bad, "\n".join(bad)


PLANTED = '''
from litestar.exceptions import NotFoundException, ValidationException
from litestar import Response
from server.texts import t, say

def handler(code, n):
    if n:
        raise NotFoundException("no firm with that code")
    if code:
        raise ValidationException(f"uscc: {code} is wrong")
    if n > 3:
        raise NotFoundException(detail="gone")
    say("not a template anyone wrote {x}", x=1)
    t("uscc: {problem}", other=1)
    return Response({"status_code": 400, "detail": "plain"})

def fine(code):
    raise NotFoundException(t("uscc: no firm with code {code} on the platform", code=code))
'''


def test_the_rules_catch_planted_offenders() -> None:
    from litestar import Response
    from litestar.exceptions import NotFoundException, ValidationException

    namespace = {"NotFoundException": NotFoundException, "ValidationException": ValidationException,
                 "Response": Response, "t": t}
    found = check_source(PLANTED, "planted.py", namespace, ZH)
    lines = sorted(int(o.where.rsplit(":", 1)[1]) for o in found)
    assert lines == [8, 10, 12, 13, 14, 15], "\n".join(map(str, found))
    assert all(o.where.startswith("planted.py:") for o in found)


# -- the reader's language ---------------------------------------------------------------------

@pytest.mark.parametrize(("header", "account", "lang"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
    ("zh-CN", "en", "zh"),
    ("en-GB", None, "en"),
    ("en-GB,en;q=0.9", "zh", "en"),
    ("en;q=0.5, zh;q=0.9", None, "zh"),
    ("zh;q=0.4, en;q=0.6", None, "en"),
    ("fr-FR, en;q=0.1", None, "en"),  # the first language we write, by quality
    ("zh;q=0, en;q=0.2", None, "en"),  # q=0: "not this one"
    ("fr", "en", "en"),  # neither named: the account's setting
    ("fr", None, "zh"),  # else Chinese
    ("", "en", "en"),
    (None, None, "zh"),
    ("*", "en", "en"),
    ("ZH-Hans-CN", None, "zh"),
    ("en;q=abc", None, "zh"),
])
def test_negotiate(header: str | None, account: str | None, lang: str) -> None:
    assert negotiate(header, account) == lang


def test_money_by_locale() -> None:
    assert money(100_000_000, "zh") == "100万元"
    assert money(100_000_000, "en") == "¥1,000,000"
    assert money(850_000, "zh") == "8,500元"
    assert money(-28_000_000, "en") == "-¥280,000"
    assert money(12_345_600, "zh") == "12.3456万元"


def test_a_text_renders_in_each_language_with_money_and_dates() -> None:
    text = t("uscc: no firm with code {code} on the platform", code="91331004MA2BX0001X")
    assert isinstance(text, Text) and str(text) == "uscc: no firm with code 91331004MA2BX0001X on the platform"
    assert text.render("zh") == "uscc：平台上没有统一社会信用代码为 91331004MA2BX0001X 的企业"
    from server.texts import _fill

    assert _fill("{a:yuan} on {d:date}", {"a": 1_000_000, "d": date(2026, 1, 2)}, "zh") == "100万元 on 2026年1月2日"
    assert _fill("{a:fen} on {d:date}", {"a": 100_000_000, "d": date(2026, 1, 2)}, "en") == "¥1,000,000 on 2026-01-02"


# -- the framework's own messages ----------------------------------------------------------------

def test_every_framework_pattern_and_phrase_is_chinese() -> None:
    for phrase, zh in HTTP_PHRASES_ZH.items():
        assert CHINESE.search(zh), phrase
    for pattern, zh in FRAMEWORK_ZH:
        if isinstance(zh, str):
            assert CHINESE.search(zh), pattern.pattern


@pytest.mark.parametrize(("message", "zh"), [
    ("Validation failed for POST /api/applications", "POST /api/applications 的请求未通过校验"),
    ("Expected `int`, got `str`", "应为 `int`，实为 `str`"),
    ("Object missing required field `amount_yuan`", "缺少必填字段 `amount_yuan`"),
    ("Object contains unknown field `colour`", "含有未知字段 `colour`"),
    ("Object contains unknown field ``", "含有未知字段 ``"),  # the fuzzer's empty key
    ("Object contains unknown field `a`b`", "含有未知字段 `a`b`"),
    ("Expected `str` of length <= 50", "应为 `str`，长度至多为 50"),
    ("Expected `int` >= 1", "应为 `int`，且 >= 1"),
    ("Invalid enum value 'boss'", "无效的取值 'boss'"),
    ("Invalid RFC3339 encoded datetime", "无效的 RFC3339 日期时间"),
    ("No JWT token found in request header", "请求头中没有 JWT 令牌：请先登录"),
    ("Not Found", "未找到"),
    ("Method Not Allowed", "不支持此请求方法"),
    ("Request Entity Too Large", "请求体过大"),
    ("Too Many Requests", "请求过于频繁"),
    ("JSON is malformed: trailing characters (byte 12)", "JSON 格式错误：末尾有多余字符（第 12 字节）"),
    ("Missing required query parameter 'uscc' for path /api/x", "缺少必填的查询参数 'uscc'（路径 /api/x）"),
    ("Expected `int`, got `str` - at `$.term_months`", "应为 `int`，实为 `str`（位置 `$.term_months`）"),
])
def test_framework_messages_in_chinese(message: str, zh: str) -> None:
    assert framework_text(message, "zh") == zh
    assert framework_text(message, "en") == message


def test_every_http_phrase_litestar_may_send_is_known() -> None:
    from http import HTTPStatus

    for code in (400, 401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 415, 422, 429, 500, 501,
                 502, 503, 504):
        assert HTTPStatus(code).phrase in HTTP_PHRASES_ZH, code
