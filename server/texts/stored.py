"""Texts kept in the database as what renders them for each reader: the English template and
the fields of a :class:`~server.texts.Text`, as JSON, never a sentence frozen in one language.
An application's timeline, the fund's ledger and an ingest batch's report store their texts so.
Text stored before (plain words) is shown as it was written."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from server.texts import Lang, Text, reader_lang

__all__ = ["revive", "shown", "store"]

_PREFIX = '{"t":'


def _pack(value: Any, cut: int | None) -> Any:
    if isinstance(value, Text):
        return {"t": value.msgid, "f": {k: _pack(v, cut) for k, v in value.fields.items()}}
    if isinstance(value, datetime | date):
        return {"d": value.isoformat()}
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return text if cut is None else text[:cut]


def _unpack(value: Any) -> Any:
    if isinstance(value, dict):
        if "t" in value:
            return Text(str(value["t"]), {k: _unpack(v) for k, v in dict(value.get("f") or {}).items()})
        if "d" in value:
            return date.fromisoformat(str(value["d"]))
    return value


def _utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate quoted from someone's input
        return False
    return True


def store(text: Text, limit: int | None = None) -> str:
    """What to store for ``text``. With ``limit`` (characters), the input it quotes is cut (to
    400, then 100 characters) until it fits. Should it still not fit, or not be UTF-8 (a lone
    surrogate quoted from input), its English words are stored instead (cut to ``limit``)."""
    for cut, ascii_only in ((None, False), (400, True), (100, True)):
        packed = json.dumps(_pack(text, cut), ensure_ascii=ascii_only, separators=(",", ":"))
        if (limit is None or len(packed) <= limit) and (packed.isascii() or _utf8(packed)):
            return packed
    return str.__str__(text)[:limit]


def revive(stored: str | None) -> Text | None:
    """The text a stored value keeps; None for words stored as words (older rows) or nothing."""
    if not stored or not stored.startswith(_PREFIX):
        return None
    try:
        text = _unpack(json.loads(stored))
    except (ValueError, TypeError, KeyError, IndexError):  # not ours after all
        return None
    return text if isinstance(text, Text) else None


def shown(stored: str | None, lang: Lang | None = None) -> str:
    """A stored text for a reader of ``lang`` (the current request's reader by default); words
    stored as words are shown as written."""
    text = revive(stored)
    if text is None:
        return stored or ""
    return text.render(lang or reader_lang())
