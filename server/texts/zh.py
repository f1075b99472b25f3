"""The Chinese of every text the server writes (:func:`server.texts.t`), keyed by its English
template. Fields in braces are the same in both; a test checks that every template written in
``server/`` is here with the same fields."""

from __future__ import annotations

ZH: dict[str, str] = {
    # -- firms
    "uscc: no firm with code {code} on the platform": "uscc：平台上没有统一社会信用代码为 {code} 的企业",
}
