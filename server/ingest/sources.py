"""What each department feed must contain, and the row validator that enforces it.

The specs are data (``SOURCES``), so adding a record kind is a line in ``scoring.records``
and, when it needs one, a field rule here. Validation is per row; a row either becomes one
canonical value tuple or a list of ``Rejection`` naming the field and what is wrong.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS, section_of
from server.texts import Text, t
from server.uscc import uscc_error, valid_usccs

__all__ = ["EARLIER_IN_BATCH", "SOURCES", "Field", "Rejection", "Repeat", "RowValidator", "Source", "clean_text"]

EARLIEST = date(1949, 10, 1)
MAX_YUAN_FEN = 10**16  # 100 trillion yuan: anything above is a unit mistake


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int
    field: str
    message: str  # a Text (rendered in the reader's language), or plain text


@dataclass(frozen=True, slots=True)
class Repeat:
    """A row with the key of another row of the same batch: not stored again, counted as a
    duplicate. ``first_row`` is the row that is stored (None: one in an earlier part of the
    batch, whose number is not kept)."""

    row: int
    field: str
    message: str
    first_row: int | None = None


EARLIER_IN_BATCH = t("repeats the uscc and record_key of an earlier row of this batch; counted as a duplicate")


def clean_text(s: str, limit: int) -> str:
    """``s`` cut to ``limit`` characters and safe to store anywhere: NUL and lone surrogates
    (which PostgreSQL and UTF-8 refuse) are written as escapes. For messages that quote input."""
    s = s[:limit]
    if s.isascii() and "\x00" not in s:
        return s
    return s.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")[:limit]


@dataclass(frozen=True, slots=True)
class Field:
    """One input field: its name in the feed, type and limits."""

    name: str
    type: str  # key / uscc / date / money / int / number / enum / text
    required: bool = True
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    signed: bool = False  # money that may be negative (profit, cash flow)
    future_ok: bool = False
    max_len: int = 100
    pattern: str | None = None  # text: the characters it may hold (a regular expression)


#: A code that departments give things (a meter number): letters, digits and ``- _ . /``, so
#: it is stored in JSON as it is, without escaping.
CODE_PATTERN = r"^[A-Za-z0-9_./-]+$"
#: Free text kept in ``attrs`` (a supply address): anything but the characters JSON would have
#: to escape (quotes, backslashes, control characters), so it too is stored as it is.
JSON_TEXT_PATTERN = r'^[^"\\\x00-\x1f]+$'
#: What a value that breaks a field's pattern is told.
PATTERN_PROBLEMS = {
    CODE_PATTERN: t("may hold only letters, digits and - _ . /"),
    JSON_TEXT_PATTERN: t("may not hold quotes, backslashes or control characters"),
}
def canonical_address(value: str) -> str:
    """A supply address as it is stored: width-folded (NFKC), without spaces, and without the
    quotes and backslashes that folding can make of full-width ones, so one place is one text
    however it was typed (the meter key of ``scoring.authenticity.meter_key``)."""
    folded = "".join(unicodedata.normalize("NFKC", value).split())
    return folded.replace('"', "").replace("\\", "")


#: The optional text fields a record feed keeps in ``attrs``: (longest, characters allowed).
ATTR_FIELDS: dict[str, tuple[int, str]] = {
    "meter_id": (40, CODE_PATTERN),
    "supply_address": (100, JSON_TEXT_PATTERN),
}


@dataclass(frozen=True, slots=True)
class Source:
    """A feed: which department sends it, where it is stored, and its fields."""

    code: str
    department: str
    target: str  # record / firm / relation / guarantee
    fields: tuple[Field, ...]
    key_field: str = "record_key"

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)


def _record_source(code: str) -> Source:
    kind = RECORD_KINDS[code]
    fields = [
        Field("record_key", "key"),
        Field("uscc", "uscc"),
        Field("event_date", "date"),
    ]
    if kind.has_end:
        fields.append(Field("end_date", "date", required=False))
    if kind.categories:
        fields.append(Field("category", "enum", choices=kind.categories))
    if kind.amount:
        fields.append(Field("amount_yuan", "money", required=code != "financial_statement"))
    if kind.arrears:
        fields.append(Field("arrears_yuan", "money", required=False))
    if kind.quantity:
        lo, hi = (350, 950) if code == "personal_credit" else (0, None)
        fields.append(Field("quantity", "number", lo=lo, hi=hi))
    if kind.days:
        fields.append(Field("days", "int", lo=0, hi=3650))
    if kind.statuses:
        fields.append(Field("status", "enum", choices=kind.statuses))
    if code == "financial_statement":
        optional = {"inventory", "receivables", "interest_expense", "operating_cash_flow"}
        for item in STATEMENT_ITEMS:
            if item == "year":
                fields.append(Field("year", "int", lo=1980, hi=date.today().year))
            else:
                fields.append(
                    Field(item, "money", required=item not in optional,
                          signed=item in ("net_profit", "operating_cash_flow", "equity"))
                )
    for name in kind.attr_fields:  # kept in attrs: the utility's meter number and supply address
        longest, allowed = ATTR_FIELDS[name]
        fields.append(Field(name, "text", required=False, max_len=longest, pattern=allowed))
    return Source(code, kind.department, "record", tuple(fields))


SOURCES: dict[str, Source] = {
    "firms": Source(
        "firms", "market", "firm",
        (
            Field("uscc", "uscc"),
            Field("name", "text", max_len=200),
            Field("industry_division", "division"),
            Field("town", "text", max_len=50),
            Field("registered_capital_yuan", "money"),
            Field("founded_on", "date"),
            Field("size_class", "enum", choices=("micro", "small", "medium", "large")),
            Field("status", "enum", choices=("active", "suspended", "revoked", "cancelled")),
        ),
        key_field="uscc",
    ),
    "relations": Source(
        "relations", "market", "relation",
        (
            Field("record_key", "key"),
            Field("uscc", "uscc"),
            Field("person_id", "text", max_len=30),
            Field("person_name", "text", max_len=50),
            Field("role", "enum", choices=("legal_rep", "shareholder", "director", "supervisor")),
            Field("share_pct", "number", required=False, lo=0, hi=100),
            Field("start_date", "date"),
            Field("end_date", "date", required=False),
        ),
    ),
    "guarantees": Source(
        "guarantees", "bank", "guarantee",
        (
            Field("record_key", "key"),
            Field("guarantor_uscc", "uscc"),
            Field("guaranteed_uscc", "uscc"),
            Field("amount_yuan", "money", lo=0.01),
            Field("start_date", "date"),
            Field("end_date", "date", future_ok=True),
        ),
    ),
    **{code: _record_source(code) for code in RECORD_KINDS},
}


@dataclass(slots=True)
class RowValidator:
    """Validates a source's rows a chunk at a time, column by column.

    Feeds repeat codes, dates and categories endlessly, so those are checked once per
    distinct value; amounts take a fast path for plain digits. This keeps validation from
    being the bottleneck of a million-row batch.
    """

    source: Source
    today: date = field(default_factory=date.today)
    _uscc: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _dates: dict[tuple[str, bool], tuple[date | None, str | None]] = field(default_factory=dict)

    def missing_columns(self, header: list[str]) -> list[str]:
        """Required fields absent from a CSV header (the whole file is refused then)."""
        present = set(header)
        return [name for name in self.source.required if name not in present]

    def validate(self, n: int, raw: dict[str, object]) -> tuple[dict[str, object] | None, list[Rejection]]:
        """One row: its clean values by field name, or the reasons it is rejected."""
        cols = {f.name: [raw.get(f.name)] for f in self.source.fields}
        keep, values, errors = self.validate_columns([n], cols, set(raw))
        if not keep:
            return None, errors
        return {name: col[0] for name, col in values.items()}, []

    def validate_columns(self, numbers: list[int], cols: dict[str, list[object]], present: set[str]
                         ) -> tuple[list[int], dict[str, list[object]], list[Rejection]]:
        """Rows given as columns -> (positions of good rows, their clean columns, rejections)."""
        n_rows = len(numbers)
        bad: dict[int, list[tuple[str, str]]] = {}
        clean: dict[str, list[object]] = {}
        for f in self.source.fields:
            col = cols.get(f.name) or [None] * n_rows
            values, problems = self._column(f, col, f.name in present)
            clean[f.name] = values
            for i, message in problems:
                bad.setdefault(i, []).append((f.name, message))
        for i, message_field in self._cross_checks(clean, n_rows, bad):
            bad.setdefault(i, []).append(message_field)
        rejections = [Rejection(numbers[i], name, message)
                      for i in sorted(bad) for name, message in bad[i]]
        if not bad:
            return list(range(n_rows)), clean, rejections
        keep = [i for i in range(n_rows) if i not in bad]
        return keep, {name: [col[i] for i in keep] for name, col in clean.items()}, rejections

    # -- one column -------------------------------------------------------------------------
    def _column(self, f: Field, col: list[object], present: bool) -> tuple[list[object], list[tuple[int, Text]]]:
        cells = [c.strip() if type(c) is str else c for c in col]
        problems: list[tuple[int, Text]] = []
        wrong: set[int] = set()
        if not all(type(c) is str or c is None for c in cells):  # JSON Lines: any JSON value
            wrong = _json_types(f, cells, problems)
        missing = [i for i, c in enumerate(cells) if (c is None or c == "") and i not in wrong]
        if missing:
            if f.required:
                msg = t("is required") if present else t("column is missing")
                problems.extend((i, msg) for i in missing)
            for i in missing:
                cells[i] = None
        kind = f.type
        if kind in ("uscc", "date", "enum", "division"):
            distinct = {c for c in cells if c is not None}
            if kind == "uscc":
                self.prime_usccs(distinct)
            lookup = {c: self._distinct(f, c) for c in distinct}
            values: list[object] = []
            for i, c in enumerate(cells):
                if c is None:
                    values.append(None)
                    continue
                value, problem = lookup[c]
                if problem:
                    problems.append((i, problem))
                values.append(value)
            return values, problems
        if kind == "money":
            values = []
            floor = -1 if f.lo is None else f.lo * 100
            for i, c in enumerate(cells):
                if c is None:
                    values.append(None)
                    continue
                if type(c) is str:  # fast path: "1234" or "1234.5" or "1234.56"
                    whole, dot, frac = c.partition(".")
                    if (whole.isdigit() and whole.isascii() and len(whole) < 15
                            and (not dot or (frac.isdigit() and frac.isascii() and len(frac) <= 2))):
                        fen = int(whole) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if dot else 0)
                        if fen >= floor:
                            values.append(fen)
                            continue
                value, problem = _money(f, c)
                if problem:
                    problems.append((i, problem))
                values.append(value)
            return values, problems
        if kind in ("int", "number"):
            values = []
            for i, c in enumerate(cells):
                if c is None:
                    values.append(None)
                    continue
                value, problem = _number(f, c)
                if problem:
                    problems.append((i, problem))
                values.append(value)
            return values, problems
        for i, c in enumerate(cells):  # text / key: stored as given, so only clean text
            if c is None:
                continue
            problem = _text_problem(c, f.max_len)  # type: ignore[arg-type]
            if problem is None and f.pattern is not None and not re.fullmatch(f.pattern, c):  # type: ignore[arg-type]
                problem = PATTERN_PROBLEMS[f.pattern]
            if problem:
                problems.append((i, problem))
        return cells, problems

    def prime_usccs(self, cells: Iterable[object]) -> None:
        """Check many codes at once (vectorised) and remember the valid ones, so ``_distinct``
        finds them; invalid ones are left for it to word the problem."""
        fresh = list({str(c).upper() for c in cells} - self._uscc.keys())
        if fresh:
            self._uscc.update((code, (code, None)) for code, ok in zip(fresh, valid_usccs(fresh), strict=True)
                              if ok)

    def _distinct(self, f: Field, cell: object) -> tuple[object, str | None]:
        """Check one distinct value of a repetitive column."""
        kind = f.type
        if kind == "uscc":
            code = str(cell).upper()
            hit = self._uscc.get(code)
            if hit is None:
                err = uscc_error(code)
                hit = self._uscc[code] = (code, t("{problem}: {value}", problem=err, value=cell) if err else None)
            return hit
        if kind == "date":
            key = (str(cell), f.future_ok)
            hit = self._dates.get(key)
            if hit is None:
                hit = self._dates[key] = self._date(f, str(cell))
            return hit
        if kind == "enum":
            s = str(cell).lower()
            if s not in f.choices:
                return None, t("must be one of {choices}, got {value!r}", choices=", ".join(f.choices), value=cell)
            return s, None
        s = str(cell).zfill(2) if str(cell).isdigit() else str(cell)  # division
        if section_of(s) is None:
            return None, t("is not a GB/T 4754 division code (01..97): {value!r}", value=cell)
        return s, None

    def _date(self, f: Field, s: str) -> tuple[date | None, str | None]:
        try:
            if len(s) != 10:
                raise ValueError
            d = date.fromisoformat(s)
        except ValueError:
            return None, t("must be a date YYYY-MM-DD, got {value!r}", value=s)
        if d < EARLIEST:
            return None, t("is before {earliest:date}: {value}", earliest=EARLIEST, value=s)
        if d > self.today and not f.future_ok:
            return None, t("is in the future: {value}", value=s)
        return d, None

    # -- rules across fields ---------------------------------------------------------------
    def _cross_checks(self, v: dict[str, list[object]], n_rows: int, bad: dict[int, list]
                      ) -> list[tuple[int, tuple[str, str]]]:
        out: list[tuple[int, tuple[str, str]]] = []
        ends = v.get("end_date")
        starts = v.get("event_date") or v.get("start_date")
        if ends is not None and starts is not None:
            for i, (end, start) in enumerate(zip(ends, starts, strict=True)):
                if end is not None and start is not None and end < start and i not in bad:  # type: ignore[operator]
                    out.append((i, ("end_date", t("is before the start date {start:date}", start=start))))
        if self.source.code == "guarantees":
            for i, (a, b) in enumerate(zip(v["guarantor_uscc"], v["guaranteed_uscc"], strict=True)):
                if a is not None and a == b and i not in bad:
                    out.append((i, ("guaranteed_uscc", t("a firm cannot guarantee itself"))))
        return out


_TEXT_TYPES = ("key", "text", "uscc", "date", "enum", "division")


def _json_kind(cell: object) -> str:
    if isinstance(cell, bool):
        return "boolean"
    if isinstance(cell, int | float):
        return "number"
    if isinstance(cell, list):
        return "array"
    return "object" if isinstance(cell, dict) else type(cell).__name__


def _json_kind_text(cell: object) -> Text:
    """What a JSON cell is, for people: "a JSON array"."""
    kind = _json_kind(cell)
    if kind == "boolean":
        return t("a JSON boolean")
    if kind == "number":
        return t("a JSON number")
    if kind == "array":
        return t("a JSON array")
    if kind == "object":
        return t("a JSON object")
    return t("a JSON {kind}", kind=kind)


def _json_types(f: Field, cells: list[object], problems: list[tuple[int, Text]]) -> set[int]:
    """Check JSON Lines cells are of a type the field takes; the wrong ones are reported, set to
    None (so no later check names them again) and their positions returned.

    Text fields take strings (and whole numbers, written as digits: a JSON number has one
    canonical spelling), amounts and numbers take strings and numbers. Anything else would be
    stored as its Python repr (``['x']``, ``True``) or crash the checks, so it is refused."""
    wrong: set[int] = set()
    text = f.type in _TEXT_TYPES
    for i, c in enumerate(cells):
        if c is None or type(c) is str:
            continue
        if text and type(c) is int:
            cells[i] = str(c)
            continue
        if not text and (type(c) is int or type(c) is float or type(c) is bool):
            continue  # judged (and bools refused) by _money / _number
        want = t("text") if text else (t("an amount in yuan") if f.type == "money" else t("a number"))
        problems.append((i, t("must be {want}, got {kind}", want=want, kind=_json_kind_text(c))))
        cells[i] = None
        wrong.add(i)
    return wrong


def _text_problem(s: str, max_len: int) -> Text | None:
    """Why a text cell cannot be stored as given (None: it can)."""
    if len(s) > max_len:
        return t("is longer than {max_len} characters", max_len=max_len)
    if "\x00" in s:  # PostgreSQL refuses NUL in text (and would fail the whole batch)
        return t("contains a NUL character")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, e.g. "\ud800" in JSON
            return t("is not valid Unicode text (it has a lone surrogate)")
    return None


def _money(f: Field, cell: object) -> tuple[int | None, Text | None]:
    """Yuan with at most two decimals -> integer fen, without going through float."""
    if isinstance(cell, bool):
        return None, t("must be an amount in yuan, got {value!r}", value=cell)
    if isinstance(cell, int):
        fen = cell * 100
    else:
        s = repr(cell) if isinstance(cell, float) else str(cell)
        s = s.replace(",", "")
        neg = s.startswith("-")
        body = s[1:] if neg or s.startswith("+") else s
        whole, _, frac = body.partition(".")
        if not body.isascii() or not (whole.isdigit() or (whole == "" and frac)) or (frac and not frac.isdigit()):
            return None, t("must be an amount in yuan like 1234.56, got {value!r}", value=cell)
        if len(frac) > 2:
            return None, t("has more than two decimals (yuan to the fen): {value!r}", value=cell)
        fen = int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")
        fen = -fen if neg else fen
    if fen < 0 and not f.signed:
        return None, t("must not be negative, got {value!r}", value=cell)
    if abs(fen) >= MAX_YUAN_FEN:
        return None, t("is implausibly large (check the unit is yuan): {value!r}", value=cell)
    if f.lo is not None and fen < f.lo * 100:
        return None, t("must be at least {lo}, got {value!r}", lo=f.lo, value=cell)
    return fen, None


def _number(f: Field, cell: object) -> tuple[float | int | None, Text | None]:
    try:
        if isinstance(cell, bool) or (isinstance(cell, str) and (not cell.isascii() or "_" in cell)):
            raise ValueError
        value: float | int = int(cell) if f.type == "int" else float(cell)  # type: ignore[arg-type]
        if f.type == "int" and isinstance(cell, float) and not cell.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        kind = t("a whole number") if f.type == "int" else t("a number")
        return None, t("must be {kind}, got {value!r}", kind=kind, value=cell)
    if isinstance(value, float) and not math.isfinite(value):
        return None, t("must be a finite number, got {value!r}", value=cell)
    if f.lo is not None and value < f.lo:
        return None, t("must be at least {lo:g}, got {value!r}", lo=f.lo, value=cell)
    if f.hi is not None and value > f.hi:
        return None, t("must be at most {hi:g}, got {value!r}", hi=f.hi, value=cell)
    return value, None
