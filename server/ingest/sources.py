"""What each department feed must contain, and the row validator that enforces it.

The specs are data (``SOURCES``), so adding a record kind is a line in ``scoring.records``
and, when it needs one, a field rule here. Validation is per row; a row either becomes one
canonical value tuple or a list of ``Rejection`` naming the field and what is wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS, section_of
from server.firms.uscc import uscc_error

__all__ = ["SOURCES", "Field", "Rejection", "RowValidator", "Source"]

EARLIEST = date(1949, 10, 1)
MAX_YUAN_FEN = 10**16  # 100 trillion yuan: anything above is a unit mistake


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int
    field: str
    message: str


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
    """Validates rows of one source; caches parsed codes and dates (feeds repeat them a lot)."""

    source: Source
    today: date = field(default_factory=date.today)
    _uscc: dict[str, str | None] = field(default_factory=dict)
    _dates: dict[str, date | str] = field(default_factory=dict)

    def missing_columns(self, header: list[str]) -> list[str]:
        """Required fields absent from a CSV header (the whole file is refused then)."""
        present = set(header)
        return [name for name in self.source.required if name not in present]

    def validate(self, n: int, raw: dict[str, object]) -> tuple[dict[str, object] | None, list[Rejection]]:
        """The row's clean values by field name, or the reasons it is rejected."""
        values: dict[str, object] = {}
        errors: list[Rejection] = []
        for f in self.source.fields:
            cell = raw.get(f.name)
            if isinstance(cell, str):
                cell = cell.strip()
            if cell is None or cell == "":
                if f.required:
                    msg = "column is missing" if f.name not in raw else "is required"
                    errors.append(Rejection(n, f.name, msg))
                else:
                    values[f.name] = None
                continue
            value, problem = self._parse(f, cell)
            if problem:
                errors.append(Rejection(n, f.name, problem))
            else:
                values[f.name] = value
        if not errors:
            errors.extend(self._cross_checks(n, values))
        return (None, errors) if errors else (values, [])

    # -- single fields -----------------------------------------------------------------
    def _parse(self, f: Field, cell: object) -> tuple[object, str | None]:
        t = f.type
        if t == "uscc":
            code = str(cell).upper()
            if code not in self._uscc:
                self._uscc[code] = uscc_error(code)
            err = self._uscc[code]
            return code, (f"{err}: {cell}" if err else None)
        if t == "date":
            return self._date(f, str(cell))
        if t == "money":
            return _money(f, cell)
        if t in ("int", "number"):
            return _number(f, cell)
        if t == "enum":
            s = str(cell).lower()
            if s not in f.choices:
                return None, f"must be one of {', '.join(f.choices)}, got {cell!r}"
            return s, None
        if t == "division":
            s = str(cell).zfill(2) if str(cell).isdigit() else str(cell)
            if section_of(s) is None:
                return None, f"is not a GB/T 4754 division code (01..97): {cell!r}"
            return s, None
        s = str(cell)
        if len(s) > f.max_len:
            return None, f"is longer than {f.max_len} characters"
        return s, None

    def _date(self, f: Field, s: str) -> tuple[object, str | None]:
        hit = self._dates.get(s)
        if hit is None:
            try:
                if len(s) != 10:
                    raise ValueError
                d = date.fromisoformat(s)
            except ValueError:
                hit = f"must be a date YYYY-MM-DD, got {s!r}"
            else:
                hit = d if d >= EARLIEST else f"is before {EARLIEST.isoformat()}: {s}"
            self._dates[s] = hit
        if isinstance(hit, str):
            return None, hit
        if hit > self.today and not f.future_ok:
            return None, f"is in the future: {s}"
        return hit, None

    # -- rules across fields ---------------------------------------------------------------
    def _cross_checks(self, n: int, v: dict[str, object]) -> list[Rejection]:
        out: list[Rejection] = []
        end, start = v.get("end_date"), v.get("event_date") or v.get("start_date")
        if end is not None and start is not None and end < start:  # type: ignore[operator]
            out.append(Rejection(n, "end_date", f"is before the start date {start}"))
        if self.source.code == "guarantees" and v.get("guarantor_uscc") == v.get("guaranteed_uscc"):
            out.append(Rejection(n, "guaranteed_uscc", "a firm cannot guarantee itself"))
        return out


def _money(f: Field, cell: object) -> tuple[int | None, str | None]:
    """Yuan with at most two decimals -> integer fen, without going through float."""
    if isinstance(cell, bool):
        return None, f"must be an amount in yuan, got {cell!r}"
    if isinstance(cell, int):
        fen = cell * 100
    else:
        s = repr(cell) if isinstance(cell, float) else str(cell)
        s = s.replace(",", "")
        neg = s.startswith("-")
        body = s[1:] if neg or s.startswith("+") else s
        whole, _, frac = body.partition(".")
        if not (whole.isdigit() or (whole == "" and frac)) or (frac and not frac.isdigit()):
            return None, f"must be an amount in yuan like 1234.56, got {cell!r}"
        if len(frac) > 2:
            return None, f"has more than two decimals (yuan to the fen): {cell!r}"
        fen = int(whole or "0") * 100 + int(frac.ljust(2, "0") or "0")
        fen = -fen if neg else fen
    if fen < 0 and not f.signed:
        return None, f"must not be negative, got {cell!r}"
    if abs(fen) >= MAX_YUAN_FEN:
        return None, f"is implausibly large (check the unit is yuan): {cell!r}"
    if f.lo is not None and fen < f.lo * 100:
        return None, f"must be at least {f.lo}, got {cell!r}"
    return fen, None


def _number(f: Field, cell: object) -> tuple[float | int | None, str | None]:
    try:
        if isinstance(cell, bool):
            raise ValueError
        value: float | int = int(cell) if f.type == "int" else float(cell)  # type: ignore[arg-type]
        if f.type == "int" and isinstance(cell, float) and not cell.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        kind = "a whole number" if f.type == "int" else "a number"
        return None, f"must be {kind}, got {cell!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return None, f"must be a finite number, got {cell!r}"
    if f.lo is not None and value < f.lo:
        return None, f"must be at least {f.lo:g}, got {cell!r}"
    if f.hi is not None and value > f.hi:
        return None, f"must be at most {f.hi:g}, got {cell!r}"
    return value, None


def statement_attrs(values: dict[str, object]) -> str:
    """The financial statement items of a row as the JSON kept in ``dept_record.attrs``."""
    return json.dumps({k: values.get(k) for k in STATEMENT_ITEMS}, separators=(",", ":"))


__all__ += ["statement_attrs"]
