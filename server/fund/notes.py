"""Notes kept beside an event (an application's timeline, the fund's ledger) as what renders
them for each reader: the text's English template and its fields (:func:`server.texts.t`),
stored as JSON, not a sentence frozen in one language. Rows written before keep their words."""

from __future__ import annotations

import json
from typing import Any

from server.texts import Lang, Text, reader_lang

__all__ = ["keep", "kept", "shown"]


def _plain(value: Any) -> Any:
    if isinstance(value, Text):
        return {"msgid": value.msgid, "fields": {k: _plain(v) for k, v in value.fields.items()}}
    return value


def _revived(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"msgid", "fields"}:
        return Text(value["msgid"], {k: _revived(v) for k, v in value["fields"].items()})
    return value


def keep(text: Text) -> str:
    """The note to store for ``text``."""
    return json.dumps(_plain(text), ensure_ascii=False, separators=(",", ":"))


def kept(note: str | None) -> Text | None:
    """The text a stored note keeps; None for a note stored as words (older rows) or none."""
    if not note or not note.startswith('{"msgid"'):
        return None
    try:
        text = _revived(json.loads(note))
    except (ValueError, TypeError, KeyError):
        return None
    return text if isinstance(text, Text) else None


def shown(note: str | None, lang: Lang | None = None) -> str:
    """A stored note for a reader of ``lang`` (the current request's reader by default); a note
    stored as words is shown as written."""
    text = kept(note)
    if text is None:
        return note or ""
    return text.render(lang or reader_lang())
