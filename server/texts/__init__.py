"""The one catalogue of texts the server writes for people, and the reader's language.

A text is written where it arises in English, gettext-style, with named fields::

    raise NotFoundException(t("uscc: no firm with code {code} on the platform", code=code))

:func:`t` returns a :class:`Text`: a ``str`` holding the English rendering (what logs show and
what ``str()`` gives), which also keeps its template and fields, so the response can render it
again in the reader's language from :data:`server.texts.zh.ZH` (English template -> Chinese
template). Fields may be numbers, other texts (rendered in the same language) or plain data
(names, codes). Money fields use the ``fen`` or ``yuan`` format spec and read as people read
money in each language: ``¥1,000,000`` / ``100万元``; dates the ``date`` spec.

The reader's language (:func:`negotiate`) is the request's ``Accept-Language`` when it names
Chinese or English, else the account's setting, else Chinese (the platform is Chinese first).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal

__all__ = ["LANGS", "Lang", "Text", "Written", "localise", "money", "negotiate", "reader_lang", "render", "say",
           "set_reader_lang", "t"]

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"


class Text(str):
    """A server-written text: its English rendering, plus what renders it in another language."""

    msgid: str
    fields: dict[str, Any]

    def __new__(cls, msgid: str, fields: Mapping[str, Any]) -> Text:
        obj = super().__new__(cls, _fill(msgid, fields, "en"))
        obj.msgid = msgid
        obj.fields = dict(fields)
        return obj

    def __str__(self) -> str:  # keep the template and fields through str() (Litestar's detail)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (self.msgid, self.fields))

    def render(self, lang: Lang) -> str:
        """This text in ``lang``; a template missing from the catalogue stays English (the
        catalogue test fails on it)."""
        if lang == "en":
            return str.__str__(self)
        return _fill(_catalogue().get(self.msgid, self.msgid), self.fields, lang)


class Written(Text):
    """A text already written in each language (a rule's ``text_zh`` / ``text_en``, or a
    library's English message with a Chinese summary), to pass as a field of a catalogue text
    or to raise as it is."""

    zh: str

    def __new__(cls, zh: str, en: str) -> Written:
        obj = super().__new__(cls, "{en}", {"en": en})
        obj.zh = zh
        return obj

    def render(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else str.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Written, (self.zh, str.__str__(self)))


def t(msgid: str, /, **fields: Any) -> Text:
    """A text for people, from its English template and fields (see the module docstring)."""
    return Text(msgid, fields)


_READER: ContextVar[Lang] = ContextVar("xinbao_reader_lang", default=DEFAULT_LANG)


def reader_lang() -> Lang:
    """The language of the request being answered (set before each handler runs; Chinese
    outside a request)."""
    return _READER.get()


def set_reader_lang(lang: Lang) -> None:
    _READER.set(lang)


def say(msgid: str, /, **fields: Any) -> str:
    """A text for the reader of the request being answered, rendered now in their language:
    for texts inside a response body (an exception's :func:`t` is rendered by its handler)."""
    return Text(msgid, fields).render(reader_lang())


def render(value: Any, lang: Lang) -> Any:
    """``value`` for a reader of ``lang``: a :class:`Text` rendered, other values unchanged."""
    return value.render(lang) if isinstance(value, Text) else value


def localise(value: Any, lang: Lang) -> Any:
    """Every :class:`Text` inside ``value`` (dicts, lists, tuples) rendered in ``lang``."""
    if isinstance(value, Text):
        return value.render(lang)
    if isinstance(value, dict):
        return {k: localise(v, lang) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(localise(v, lang) for v in value)
    return value


def money(fen: int | float | None, lang: Lang) -> str:
    """An amount as each language's readers say it: "¥600,000" / "60万元", "8,500元"."""
    yuan = int(round((fen or 0) / 100))
    if lang == "en":
        return f"-¥{-yuan:,}" if yuan < 0 else f"¥{yuan:,}"
    if abs(yuan) >= 10_000:
        return f"{yuan / 10_000:,.4f}".rstrip("0").rstrip(".") + "万元"
    return f"{yuan:,}元"


def negotiate(accept_language: str | None, account: str | None = None) -> Lang:
    """The reader's language: the first of ``Accept-Language`` (by quality) that is Chinese or
    English, else the account's setting, else Chinese."""
    found = _accepted(accept_language[:200] if accept_language else None)
    if found is not None:
        return found
    if account in LANGS:
        return account  # type: ignore[return-value]
    return DEFAULT_LANG


@lru_cache(maxsize=256)  # every request negotiates; clients send a handful of distinct headers
def _accepted(accept_language: str | None) -> Lang | None:
    best: tuple[float, int, Lang] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in LANGS:
            continue
        q = 1.0
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, lang)  # type: ignore[assignment]
    return best[2] if best is not None else None


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, str]:
    from server.texts.zh import ZH

    return ZH


@lru_cache(maxsize=4096)
def _parsed(template: str) -> tuple[tuple[str, str | None, str, str | None], ...]:
    return tuple((lit, name, spec or "", conv) for lit, name, spec, conv in string.Formatter().parse(template))


def _field(value: Any, spec: str, lang: Lang) -> str:
    if isinstance(value, Text):
        return value.render(lang)
    if spec == "fen":
        return money(value, lang)
    if spec == "yuan":
        return money(None if value is None else value * 100, lang)
    if spec == "date" and isinstance(value, date | datetime):
        d = value.date() if isinstance(value, datetime) else value
        return f"{d.year}年{d.month}月{d.day}日" if lang == "zh" else d.isoformat()
    if value is None:
        return "—"
    return format(value, spec)


def _fill(template: str, fields: Mapping[str, Any], lang: Lang) -> str:
    out = []
    for lit, name, spec, conv in _parsed(template):
        out.append(lit)
        if name is not None:
            value = fields[name]
            if conv == "r" and not isinstance(value, Text):
                value = repr(value)
            elif conv == "s":
                value = str(value)
            out.append(_field(value, spec, lang))
    return "".join(out)
