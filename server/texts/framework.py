"""The framework's own texts (Litestar's checks, msgspec's decoding errors, the JWT middleware's,
plain HTTP phrases) in Chinese, for a Chinese reader.

These messages are written by libraries, not by :func:`server.texts.t`, so they are matched by
pattern: each entry is a regular expression over the whole English message and its Chinese,
where ``\\1`` ... keep what the message names (fields, backticked types, values, paths) as it
is. A message no pattern knows stays as written (the reader-language tests fail on it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from server.texts import Lang, Text

__all__ = ["FRAMEWORK_ZH", "HTTP_PHRASES_ZH", "Said", "framework_text"]

# Why msgspec found the JSON malformed ("JSON is malformed: <why> (byte n)").
_JSON_WHY_ZH: dict[str, str] = {
    "invalid character": "无效字符",
    "trailing characters": "末尾有多余字符",
    "trailing comma in array": "数组末尾多了逗号",
    "trailing comma in object": "对象末尾多了逗号",
    "expected ':'": "此处应为 ':'",
    "expected ',' or ']'": "此处应为 ',' 或 ']'",
    "expected ',' or '}'": "此处应为 ',' 或 '}'",
    "expected '\"'": "此处应为 '\"'",
    "invalid number": "无效的数字",
    "invalid escape character in string": "字符串中有无效的转义字符",
    "invalid escaped character": "无效的转义字符",
    "invalid character in unicode escape": "Unicode 转义中有无效字符",
    "invalid utf-16 surrogate pair": "无效的 UTF-16 代理对",
    "unexpected end of escaped utf-16 surrogate pair": "UTF-16 代理对意外结束",
    "unexpected end of hex escape": "十六进制转义意外结束",
    "object keys must be strings": "对象的键必须是字符串",
}

_PARAM_KIND_ZH = {"query": "查询", "header": "请求头", "cookie": "Cookie ", "path": "路径"}
_LENGTH_OP_ZH = {">=": "至少", "<=": "至多"}
_DATE_KIND_ZH = {"datetime": "日期时间", "date": "日期", "time": "时间"}

#: Plain HTTP phrases (an exception raised without a message says its status's phrase).
HTTP_PHRASES_ZH: dict[str, str] = {
    "Bad Request": "请求有误",
    "Unauthorized": "未登录或登录已失效",
    "Payment Required": "需要付费",
    "Forbidden": "无权进行此操作",
    "Not Found": "未找到",
    "Method Not Allowed": "不支持此请求方法",
    "Not Acceptable": "无法提供可接受的响应格式",
    "Request Timeout": "请求超时",
    "Conflict": "冲突",
    "Gone": "已不存在",
    "Length Required": "需要 Content-Length",
    "Precondition Failed": "前提条件不满足",
    "Request Entity Too Large": "请求体过大",
    "Content Too Large": "请求体过大",
    "Unsupported Media Type": "不支持的内容类型",
    "Unprocessable Entity": "请求内容无法处理",
    "Unprocessable Content": "请求内容无法处理",
    "Too Many Requests": "请求过于频繁",
    "Internal Server Error": "服务器内部错误",
    "Not Implemented": "尚未实现",
    "Bad Gateway": "网关错误",
    "Service Unavailable": "服务暂时不可用",
    "Gateway Timeout": "网关超时",
}

_Sub = str | Callable[[re.Match[str]], str]

#: (pattern over the whole English message, its Chinese): the framework's messages.
FRAMEWORK_ZH: list[tuple[re.Pattern[str], _Sub]] = [(re.compile(p), zh) for p, zh in [
    # Litestar
    (r"Validation failed for (\S+) (.*)", r"\1 \2 的请求未通过校验"),
    (r"Missing required (query|header|cookie|path) parameter '([^']*)' for path (.*)",
     lambda m: f"缺少必填的{_PARAM_KIND_ZH[m[1]]}参数 '{m[2]}'（路径 {m[3]}）"),
    (r"Invalid content-length: (.*)", r"无效的 Content-Length：\1"),
    (r"Invalid multipart/form-data", "无效的 multipart/form-data 请求体"),
    (r"Unexpected eof in multipart/form-data", "multipart/form-data 请求体意外结束"),
    (r"multipart boundary missing in Content-Type", "Content-Type 中缺少 multipart 边界"),
    (r"Invalid host header", "无效的 Host 请求头"),
    # JWT middleware and tokens
    (r"No JWT token found in request header", "请求头中没有 JWT 令牌：请先登录"),
    (r"No JWT token found in request header or cookies", "请求头和 Cookie 中都没有 JWT 令牌：请先登录"),
    (r"Invalid token", "令牌无效或已过期"),
    # msgspec (Litestar keeps the message before " - at `$.x`")
    (r"Expected `([^`]+)`, got `([^`]+)`", r"应为 `\1`，实为 `\2`"),
    (r"Expected `([^`]+)` of length (>=|<=) (\d+)",
     lambda m: f"应为 `{m[1]}`，长度{_LENGTH_OP_ZH[m[2]]}为 {m[3]}"),
    (r"Expected `([^`]+)` of length (\d+)(?:, got (\d+))?",
     lambda m: f"应为长度 {m[2]} 的 `{m[1]}`" + (f"，实为 {m[3]}" if m[3] else "")),
    (r"Expected `([^`]+)` of length (\d+) to (\d+)(?:, got (\d+))?",
     lambda m: f"应为长度 {m[2]} 到 {m[3]} 的 `{m[1]}`" + (f"，实为 {m[4]}" if m[4] else "")),
    (r"Expected `([^`]+)` of at least length (\d+)(?:, got (\d+))?",
     lambda m: f"应为长度至少为 {m[2]} 的 `{m[1]}`" + (f"，实为 {m[3]}" if m[3] else "")),
    (r"Expected `([^`]+)` of at most length (\d+)(?:, got (\d+))?",
     lambda m: f"应为长度至多为 {m[2]} 的 `{m[1]}`" + (f"，实为 {m[3]}" if m[3] else "")),
    (r"Expected `([^`]+)` (>=|<=|>|<) (\S+)", r"应为 `\1`，且 \2 \3"),
    (r"Expected `([^`]+)` matching regex (.+)", r"应为符合正则表达式 \2 的 `\1`"),
    (r"Expected `([^`]+)` that's a multiple of (\S+)", r"应为 \2 的倍数（`\1`）"),
    (r"Expected `([^`]+)` with a timezone component", r"`\1` 应带时区"),
    (r"Expected `([^`]+)` with no timezone component", r"`\1` 不应带时区"),
    (r"Expected `([^`]+)`", r"应为 `\1`"),
    (r"Object missing required field `(.*)`", r"缺少必填字段 `\1`"),
    (r"Object contains unknown field `(.*)`", r"含有未知字段 `\1`"),
    (r"Invalid enum value (.+)", r"无效的取值 \1"),
    (r"Invalid value (.+)", r"无效的值 \1"),
    (r"Invalid RFC3339 encoded (datetime|date|time)", lambda m: f"无效的 RFC3339 {_DATE_KIND_ZH[m[1]]}"),
    (r"Invalid ISO8601 duration", "无效的 ISO8601 时长"),
    (r"Invalid epoch timestamp", "无效的时间戳"),
    (r"Invalid UUID", "无效的 UUID"),
    (r"Invalid UUID bytes", "无效的 UUID 字节"),
    (r"Invalid base64 encoded string", "无效的 base64 字符串"),
    (r"Invalid decimal string", "无效的十进制数"),
    (r"Invalid UTF-8 encoded string", "无效的 UTF-8 字符串"),
    (r"Integer value out of range", "整数超出范围"),
    (r"Number out of range", "数值超出范围"),
    (r"Input data was truncated", "输入数据不完整"),
    # a required value missing altogether (Litestar reports the name alone: "'data'")
    (r"'(\w+)'", r"缺少必填项 '\1'"),
    (r"JSON is malformed: (.+) \(byte (\d+)\)",
     lambda m: f"JSON 格式错误：{_JSON_WHY_ZH.get(m[1], m[1])}（第 {m[2]} 字节）"),
    (r"MessagePack data is malformed: (.+) \(byte (\d+)\)",
     lambda m: f"MessagePack 格式错误：{_JSON_WHY_ZH.get(m[1], m[1])}（第 {m[2]} 字节）"),
]]

_AT = re.compile(r"(.*) - at `([^`]+)`", re.DOTALL)


def _zh(message: str) -> str | None:
    if message in HTTP_PHRASES_ZH:
        return HTTP_PHRASES_ZH[message]
    for pattern, zh in FRAMEWORK_ZH:
        m = pattern.fullmatch(message)
        if m:
            return zh(m) if callable(zh) else m.expand(zh)
    return None


def framework_text(message: object, lang: Lang) -> object:
    """A library's message for a reader of ``lang``: Chinese when a pattern knows it, else as
    written (English readers get it unchanged; anything not a string is returned as is)."""
    if lang != "zh" or not isinstance(message, str) or not message:
        return message
    found = _zh(message)
    if found is not None:
        return found
    m = _AT.fullmatch(message)  # msgspec's "... - at `$.x`" where Litestar did not split it
    if m:
        inner = _zh(m[1])
        if inner is not None:
            return f"{inner}（位置 `{m[2]}`）"
    return message


class Said(Text):
    """A library's own message passed as a field of a catalogue text: in Chinese when the
    pattern table knows it; one it does not know is summed up for a Chinese reader (its English
    would be a foreign sentence inside a Chinese text) and kept as written for an English one."""

    said: str

    def __new__(cls, message: str) -> Said:
        obj = super().__new__(cls, "{said}", {"said": message})
        obj.said = message
        return obj

    def render(self, lang: Lang) -> str:
        if lang == "en":
            return self.said
        zh = framework_text(self.said, "zh")
        return zh if isinstance(zh, str) and zh != self.said else "格式有误"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Said, (self.said,))
