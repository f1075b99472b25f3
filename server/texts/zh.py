"""The Chinese of every text the server writes (:func:`server.texts.t`), keyed by its English
template. Fields in braces are the same in both; a test checks that every template written in
``server/`` is here with the same fields."""

from __future__ import annotations

from server.texts import zh_accounts, zh_admin, zh_data, zh_lending, zh_projects, zh_reports

ZH: dict[str, str] = {
    # -- USCC (server/uscc.py)
    "is required": "必填",
    "must be 18 characters, got {length}": "应为18位，实为{length}位",
    "contains characters not allowed in a USCC: {chars}": "含有统一社会信用代码不允许的字符：{chars}",
    "check character is {got!r}, expected {expected!r}": "校验码为 {got!r}，应为 {expected!r}",
    # -- firms (server/lookup.py)
    "uscc: {problem}": "uscc：{problem}",
    "uscc: no firm with code {code} on the platform": "uscc：平台上没有统一社会信用代码为 {code} 的企业",
}

# The parts kept beside this file (accounts and errors of the framework; lending, consent,
# objections and policies; department data, scores, risk and notifications; the admin back office).
ZH.update(zh_accounts.ZH)
ZH.update(zh_lending.ZH)
ZH.update(zh_data.ZH)
ZH.update(zh_admin.ZH)
ZH.update(zh_reports.ZH)
ZH.update(zh_projects.ZH)
