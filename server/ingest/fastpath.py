"""The Arrow fast path for record sources: whole columns checked at once, rows written by COPY.

Record feeds (tax, social insurance, utilities ...) are the 10⁸-row ones, and per-row Python
(~11 µs a row on the servers) caps a batch at about 90k rows/s before the database does any
work. Here a block of CSV rows, parsed by Arrow as strings, is validated column by column:

- a cell is *fast-accepted* only when it is in a form the row validator certainly accepts
  with the same value (repetitive columns - codes, dates, categories - are judged by the row
  validator itself, once per distinct value; amounts and numbers must match a plain-digits
  pattern; keys must be non-empty, unpadded and short enough);
- every other row (rare: the bad ones, and odd but valid spellings such as ``" 12"``) goes
  through ``RowValidator.validate_columns``, the Python path, which gives the very same
  values, rejection fields and messages as before.

So results are identical to the Python path by construction; only the common case is faster.
The registries take the same checks; on PostgreSQL their blocks are written from the columns too
(``prepare_firms``, ``prepare_links``), staged by one binary ``COPY`` each.
Writing is ``COPY`` of Arrow-written CSV straight into ``dept_record`` inside a savepoint;
when a key is already stored (a re-sent batch) the savepoint is rolled back and that chunk
takes the ``INSERT ... ON CONFLICT DO NOTHING`` path instead. SQLite keeps ``executemany``
with ``ON CONFLICT``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.records import RECORD_KINDS, STATEMENT_ITEMS, section_of
from server.ingest.cells import CellsPayload, add_cells, add_new_rows, chunk_cells, is_store_kind
from server.ingest.parse import ArrowBlock
from server.ingest.pgcopy import binary_copy_payload
from server.ingest.sources import EARLIER_IN_BATCH, Field, Rejection, Repeat, RowValidator
from server.ingest.store import RECORD_COLUMNS, BatchWriter
from server.texts import t

__all__ = ["FIRM_FIELDS", "LINK_TABLES", "RECORD_FIELD_COLUMNS", "ArrowRecordValidator", "CheckedBlock", "PreparedFirms",
           "PreparedLinks", "PreparedRecords", "copy_new_records", "prepare_firms", "prepare_links", "prepare_records",
           "store_records", "supports_fast_path"]

# Characters ``str.strip()`` removes (``str.isspace``); a unit test compares with Python's.
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
                 "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]"
_PADDED = f"^{_WS_CLASS}|{_WS_CLASS}$"
_MONEY = r"^[0-9]{1,14}(\.[0-9]{1,2})?$"  # < 10^14 yuan: below the implausibility limit
_SIGNED_MONEY = r"^-?[0-9]{1,14}(\.[0-9]{1,2})?$"  # a loss (profit, cash flow, equity)
_INT = r"^[0-9]{1,9}$"
_NUMBER = r"^[0-9]{1,15}(\.[0-9]{1,15})?$"

_ARROW_TYPES = {"key": pa.string(), "text": pa.string(), "uscc": pa.string(), "enum": pa.string(),
                "division": pa.string(), "date": pa.date32(), "money": pa.int64(), "int": pa.int64(),
                "number": pa.float64()}

# Feed field -> dept_record column (the others keep their names).
RECORD_FIELD_COLUMNS = {"amount_yuan": "amount_fen", "arrears_yuan": "arrears_fen"}
_FIELD_OF_COLUMN = {column: field for field, column in RECORD_FIELD_COLUMNS.items()}


def supports_fast_path(fields: tuple[Field, ...], code: str) -> bool:
    """Sources whose fields all have a vectorised check: the record sources (the financial
    statements' items become a JSON ``attrs`` object, built column-wise too) and the
    registries (firms, relations, guarantees), which are checked here and stored row-wise."""
    return all(f.type in _ARROW_TYPES for f in fields)


@dataclass(slots=True)
class CheckedBlock:
    """A validated block: its good rows (typed columns named like the fields, plus ``_row``,
    the 1-based row number, in file order), the rejections, and the last row number."""

    table: pa.Table
    rejections: list[Rejection]
    last_row: int


class ArrowRecordValidator:
    """Validates Arrow blocks of one record source with the same results as ``RowValidator``."""

    def __init__(self, validator: RowValidator, header: list[str]) -> None:
        self.validator = validator
        self.header = header
        self.present = set(header)
        # Like the Python path: with a repeated column name the last one wins.
        self.index = {name: i for i, name in enumerate(header)}
        self.fields = validator.source.fields
        self.schema = pa.schema([(f.name, _ARROW_TYPES[f.type]) for f in self.fields] + [("_row", pa.int64())])

    def check(self, block: ArrowBlock) -> CheckedBlock:
        table = block.table
        n = table.num_rows
        ok: pa.Array | None = None
        clean: dict[str, pa.Array] = {}
        for f in self.fields:
            i = self.index.get(f.name)
            col = table.column(i).combine_chunks() if i is not None else None
            values, good = self._column(f, col, n)
            clean[f.name] = values
            ok = good if ok is None else pc.and_(ok, good)
        # The rules across fields (RowValidator._cross_checks): rows they might refuse go to
        # the slow path, which judges them and words the refusal.
        start = "event_date" if "event_date" in clean else "start_date"
        if "end_date" in clean and start in clean:
            before = pc.fill_null(pc.less(clean["end_date"], clean[start]), False)
            ok = pc.and_(ok, pc.invert(before))
        if "guarantor_uscc" in clean and "guaranteed_uscc" in clean:
            itself = pc.fill_null(pc.equal(clean["guarantor_uscc"], clean["guaranteed_uscc"]), False)
            ok = pc.and_(ok, pc.invert(itself))
        assert ok is not None
        rows = pa.array(np.arange(block.start + 1, block.start + n + 1, dtype=np.int64))
        fast = pa.table({**clean, "_row": rows}, schema=self.schema)
        if pc.all(ok).as_py():
            return CheckedBlock(fast, [], block.start + n)
        fast = fast.filter(ok)
        slow_idx = pc.indices_nonzero(pc.invert(ok))
        numbers = [block.start + 1 + int(i) for i in slow_idx.to_pylist()]
        cols = {f.name: table.column(self.index[f.name]).take(slow_idx).to_pylist()
                for f in self.fields if f.name in self.index}
        keep, values, rejections = self.validator.validate_columns(numbers, cols, self.present)
        if keep:
            slow = pa.table({**{f.name: pa.array(values[f.name], _ARROW_TYPES[f.type]) for f in self.fields},
                             "_row": pa.array([numbers[k] for k in keep], pa.int64())}, schema=self.schema)
            both = pa.concat_tables([fast, slow])
            fast = both.take(pc.sort_indices(both["_row"]))
        return CheckedBlock(fast, rejections, block.start + n)

    def _column(self, f: Field, col: pa.Array | None, n: int) -> tuple[pa.Array, pa.Array]:
        """(clean values, which cells are certainly valid) for one field."""
        typ = _ARROW_TYPES[f.type]
        if col is None:  # column absent from the header: only optional fields get here
            return pa.nulls(n, typ), pa.repeat(pa.scalar(not f.required), n)
        t = f.type
        if t in ("uscc", "date", "enum", "division"):
            return self._by_distinct(f, col, typ)
        empty = pc.equal(col, "")
        if t in ("key", "text"):
            fine = pc.and_(pc.less_equal(pc.utf8_length(col), f.max_len),
                           pc.invert(pc.match_substring_regex(col, _PADDED)))
            if f.pattern is not None:
                fine = pc.and_(fine, pc.match_substring_regex(col, f.pattern))
            good = pc.and_(fine, pc.invert(empty))
            values = col
        else:
            pattern = {"money": _SIGNED_MONEY if f.signed else _MONEY, "int": _INT, "number": _NUMBER}[t]
            good = pc.match_substring_regex(col, pattern)
            digits = pc.if_else(good, col, "0")
            if t == "money":
                dec = pc.cast(digits, pa.decimal128(16, 2))
                values = pc.cast(pc.multiply(dec, pa.scalar(100, pa.decimal128(3, 0))), pa.int64())
                floor = None if f.lo is None else f.lo * 100
                ceiling = None
            else:
                values = pc.cast(digits, typ)
                floor, ceiling = f.lo, f.hi
            if floor is not None:
                good = pc.and_(good, pc.greater_equal(values, pa.scalar(floor, pa.float64())))
            if ceiling is not None:
                good = pc.and_(good, pc.less_equal(values, pa.scalar(ceiling, pa.float64())))
        if not f.required:  # an empty optional cell is a missing value
            good = pc.or_(good, empty)
        values = pc.if_else(empty, pa.scalar(None, typ), values)
        return values, good

    def _by_distinct(self, f: Field, col: pa.Array, typ: pa.DataType) -> tuple[pa.Array, pa.Array]:
        """Repetitive columns: the row validator judges each distinct cell once."""
        encoded = col.dictionary_encode()
        oks: list[bool] = []
        values: list[Any] = []
        cells = encoded.dictionary.to_pylist()
        if f.type == "uscc":
            self.validator.prime_usccs(c.strip() for c in cells)
        for cell in cells:
            s = cell.strip()
            if s == "":
                value, problem = None, ("is required" if f.required else None)
            else:
                value, problem = self.validator._distinct(f, s)
            oks.append(problem is None)
            values.append(value if problem is None else None)
        idx = encoded.indices
        return (pc.take(pa.array(values, typ), idx), pc.take(pa.array(oks, pa.bool_()), idx))


def _sorted_first_occurrences(table: pa.Table) -> tuple[pa.Table, pa.Table | None]:
    """The rows sorted by (uscc, record_key), keeping only the first row (in file order) of
    each key, as ``INSERT ... ON CONFLICT DO NOTHING`` in file order would; and the rows left
    out (``_row``, ``first_row`` - the kept row of their key - and ``uscc``), or None.

    Sorting also makes the write cheaper: consecutive rows go to neighbouring pages of the
    unique index instead of a random page each (measured: 9.4 s -> 6.4 s per million rows).
    """
    ordered = table.take(pc.sort_indices(table, sort_keys=[("uscc", "ascending"), ("record_key", "ascending"),
                                                           ("_row", "ascending")]))
    n = ordered.num_rows
    if n < 2:
        return ordered, None
    u = ordered["uscc"].combine_chunks()
    k = ordered["record_key"].combine_chunks()
    new_key = pc.or_(pc.not_equal(u.slice(1), u.slice(0, n - 1)), pc.not_equal(k.slice(1), k.slice(0, n - 1)))
    if pc.all(new_key).as_py():
        return ordered, None
    first = np.concatenate([[True], new_key.to_numpy(zero_copy_only=False)])
    # each row's key starts at the last "first" position at or before it
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rows = ordered["_row"].to_numpy()
    repeat = ~first
    repeats = pa.table({"_row": rows[repeat], "first_row": rows[start[repeat]],
                        "uscc": ordered["uscc"].filter(pa.array(repeat))})
    return ordered.filter(pa.array(first)), repeats


_DB_TYPES = {"source": pa.string(), "record_key": pa.string(), "uscc": pa.string(), "event_date": pa.date32(),
             "end_date": pa.date32(), "category": pa.string(), "amount_fen": pa.int64(),
             "arrears_fen": pa.int64(), "quantity": pa.float64(), "days": pa.int64(), "status": pa.string(),
             "attrs": pa.string(), "batch_id": pa.int64()}


def _statement_attrs(table: pa.Table) -> pa.Array:
    """Each statement's items as the JSON object the row-wise path writes
    (``json.dumps(..., separators=(",", ":"))`` of integers and nulls, in ``STATEMENT_ITEMS``
    order), built column-wise."""
    pieces: list[pa.Array | pa.Scalar] = []
    for i, item in enumerate(STATEMENT_ITEMS):
        values = pc.fill_null(pc.cast(table[item], pa.string()), "null")
        pieces += [pa.scalar(("{" if i == 0 else ",") + f'"{item}":', pa.string()), values]
    pieces.append(pa.scalar("}", pa.string()))
    return pc.binary_join_element_wise(*pieces, pa.scalar("", pa.string()))


def _text_attrs(table: pa.Table, names: tuple[str, ...]) -> pa.Array:
    """The present text fields of each row as the JSON object the row-wise path writes
    (``json.dumps`` of the non-empty ones, in field order), null when none is present. The
    fields hold codes or text without the characters JSON escapes (``CODE_PATTERN``,
    ``JSON_TEXT_PATTERN``), so they are written as they are."""
    pieces: list[pa.Array] = []
    for name in names:
        col = table[name] if name in table.column_names else pa.nulls(table.num_rows, pa.string())
        pair = pc.binary_join_element_wise(pa.scalar(f',"{name}":"'), col, pa.scalar('"'),
                                           pa.scalar(""))
        pieces.append(pc.fill_null(pair, ""))
    joined = pc.binary_join_element_wise(*pieces, pa.scalar("")) if len(pieces) > 1 else pieces[0]
    body = pc.binary_join_element_wise(pa.scalar("{"), pc.utf8_slice_codeunits(joined, 1),
                                       pa.scalar("}"), pa.scalar(""))
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), body)


def canonical_addresses(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``sources.canonical_address`` of every value: NFKC, no whitespace, no quotes or
    backslashes; null where nothing is left (the row-wise path leaves such a field out)."""
    folded = pc.replace_substring_regex(pc.utf8_normalize(col, "NFKC"), r'[\s"\\]+', "")
    return pc.if_else(pc.equal(folded, ""), pa.scalar(None, pa.string()), folded)  # nothing left: absent


def _record_table(table: pa.Table, source: str, batch_id: int) -> pa.Table:
    """The rows as ``dept_record`` columns, in ``RECORD_COLUMNS`` order, only those the source
    has (the others stay NULL) and without the batch's ``received_at``, which the writer adds
    in its engine's own form."""
    n = table.num_rows
    fields = {RECORD_FIELD_COLUMNS.get(name, name): name for name in table.column_names}
    if source == "financial_statement":  # the revenue is the amount; every item goes to attrs
        fields["amount_fen"] = "revenue"
        table = table.append_column("attrs", _statement_attrs(table))
        fields["attrs"] = "attrs"
    elif RECORD_KINDS[source].attr_fields:
        if "supply_address" in table.column_names:  # stored canonical (sources.canonical_address)
            at = table.column_names.index("supply_address")
            table = table.set_column(at, "supply_address", canonical_addresses(table["supply_address"]))
        table = table.append_column("attrs", _text_attrs(table, RECORD_KINDS[source].attr_fields))
        fields["attrs"] = "attrs"
    cols: dict[str, Any] = {}
    for column in RECORD_COLUMNS:
        if column == "source":
            cols[column] = pa.repeat(pa.scalar(source), n)
        elif column == "batch_id":
            cols[column] = pa.repeat(pa.scalar(batch_id, pa.int64()), n)
        elif column in fields and column in _DB_TYPES:
            cols[column] = pc.cast(table[fields[column]], _DB_TYPES[column])
    return pa.table(cols)


@dataclass(slots=True)
class PreparedRecords:
    """A checked block made ready to write, off the event loop: ``good`` are all its valid
    rows (file order, with ``_row``), ``firsts`` the first row of each key (with ``_row``),
    ``rows`` the same as ``dept_record`` columns, ``payload`` their engine-specific bulk form
    (or None), ``repeats`` the rows repeating a key within the block (or None)."""

    good: pa.Table
    firsts: pa.Table
    rows: pa.Table
    payload: bytes | None
    repeats: pa.Table | None = None
    #: the rows' feature-store cells and their COPY payload (PostgreSQL, monthly kinds)
    cells: CellsPayload | None = None


#: The firms registry's columns after its code, in the order ``prepare_firms`` gives them.
FIRM_FIELDS = ("name", "industry_section", "industry_division", "town", "registered_capital_fen",
               "founded_on", "size_class", "status")
_DIVISIONS = pa.array([f"{d:02d}" for d in range(100) if section_of(f"{d:02d}") is not None], pa.string())
_SECTIONS = pa.array([section_of(d) for d in _DIVISIONS.to_pylist()], pa.string())


@dataclass(slots=True)
class PreparedFirms:
    """A checked block of the firms registry made ready to write, off the event loop:
    ``rows`` are ``uscc`` then ``FIRM_FIELDS``, one row per code, in file order; ``payload``
    their engine-specific bulk form with two time stamps (or None)."""

    rows: pa.Table
    payload: bytes | None


def prepare_firms(w: BatchWriter, good: pa.Table, received_at: datetime) -> PreparedFirms | None:
    """A firms block's rows as the registry stores them (pure; runs in a worker thread), or
    None when a code repeats within the block: the row-wise path keeps the last registration
    and lists each earlier one with the row stored."""
    codes = good["uscc"]
    if pc.count_distinct(codes).as_py() != good.num_rows:
        return None
    division = good["industry_division"]
    # every division here passed the check, so each has its section
    section = pc.take(_SECTIONS, pc.index_in(division, value_set=_DIVISIONS))
    rows = pa.table({"uscc": codes, "name": good["name"], "industry_section": section,
                     "industry_division": division, "town": good["town"],
                     "registered_capital_fen": good["registered_capital_yuan"], "founded_on": good["founded_on"],
                     "size_class": good["size_class"], "status": good["status"]})
    return PreparedFirms(rows, w.registry_payload(rows, received_at, 2))


@dataclass(frozen=True, slots=True)
class LinkTable:
    """How a registry of links between firms (and people) is written from its stage: the
    stage's columns and PostgreSQL types, the columns naming a firm by its code, and the
    INSERT that turns codes into ids (one index probe per code, in the stage's row order)."""

    stage: str
    columns: tuple[tuple[str, str], ...]
    firm_columns: tuple[str, ...]
    insert: str


LINK_TABLES = {
    "relation": LinkTable(
        "stage_relation_links",
        (("ord", "int4"), ("record_key", "text"), ("uscc", "text"), ("id_hash", "text"), ("role", "text"),
         ("share_pct", "float8"), ("start_date", "date"), ("end_date", "date")),
        ("uscc",),
        # LIMIT 1 keeps each lookup an index probe (the code is unique); without it the planner
        # may hash-join a sequential scan of the registry (benchmarks/ingest_plans.py shows the plans)
        "INSERT INTO firm_person (record_key, firm, person, role, share_pct, start_date, end_date) "
        "SELECT s.record_key, f.id, p.id, s.role, s.share_pct, s.start_date, s.end_date "
        "FROM stage_relation_links s "
        "CROSS JOIN LATERAL (SELECT id FROM firm WHERE uscc = s.uscc LIMIT 1) f "
        "CROSS JOIN LATERAL (SELECT id FROM person WHERE id_hash = s.id_hash LIMIT 1) p "
        "ORDER BY s.ord ON CONFLICT (record_key) DO NOTHING"),
    "guarantee": LinkTable(
        "stage_guarantee_links",
        (("ord", "int4"), ("record_key", "text"), ("guarantor_uscc", "text"), ("guaranteed_uscc", "text"),
         ("amount_fen", "int8"), ("start_date", "date"), ("end_date", "date")),
        ("guarantor_uscc", "guaranteed_uscc"),
        "INSERT INTO guarantee (record_key, guarantor, guaranteed, amount_fen, start_date, end_date) "
        "SELECT s.record_key, a.id, b.id, s.amount_fen, s.start_date, s.end_date "
        "FROM stage_guarantee_links s "
        "CROSS JOIN LATERAL (SELECT id FROM firm WHERE uscc = s.guarantor_uscc LIMIT 1) a "
        "CROSS JOIN LATERAL (SELECT id FROM firm WHERE uscc = s.guaranteed_uscc LIMIT 1) b "
        "ORDER BY s.ord ON CONFLICT (record_key) DO NOTHING"),
}


@dataclass(slots=True)
class PreparedLinks:
    """A checked block of the relations or guarantees registry made ready to write, off the
    event loop (PostgreSQL): ``links`` is the binary COPY of its stage (``LINK_TABLES``), and
    for relations ``people`` that of each person once, ``(id_hash, name)`` by hash, the name of
    the person's last row. ``table`` is the checked block itself, for the row-wise path when a
    row names a firm the registry does not have."""

    target: str
    table: pa.Table
    links: bytes
    people: bytes | None
    touched: list[str]


def prepare_links(w: BatchWriter, good: pa.Table, target: str,
                  person_key: Callable[[str], str]) -> PreparedLinks | None:
    """A relations or guarantees block as its stage's rows (pure; runs in a worker thread), or
    None on SQLite or when a key repeats within the block: the row-wise path lists each later
    row with the one stored. ``person_key`` turns an identity number into its stored hash."""
    if not w.is_postgres or pc.count_distinct(good["record_key"]).as_py() != good.num_rows:
        return None
    spec = LINK_TABLES[target]
    n = good.num_rows
    columns: dict[str, Any] = {"ord": pa.array(np.arange(n, dtype=np.int32))}
    people = None
    if target == "relation":
        hashes = [person_key(p) for p in good["person_id"].to_pylist()]
        names = dict(zip(hashes, good["person_name"].to_pylist(), strict=True))  # the last row's name
        ordered = sorted(names)
        people = binary_copy_payload(pa.table({"id_hash": pa.array(ordered, pa.string()),
                                               "name": pa.array([names[h] for h in ordered], pa.string())}),
                                     ["text", "text"])
        columns["id_hash"] = pa.array(hashes, pa.string())
    for name, _ in spec.columns[1:]:
        if name not in columns:
            columns[name] = good[_FIELD_OF_COLUMN.get(name, name)]
    stage = pa.table({name: columns[name] for name, _ in spec.columns})
    links = binary_copy_payload(stage, [typ for _, typ in spec.columns])
    touched = [u for f in spec.firm_columns for u in good[f].to_pylist()]
    return PreparedLinks(target, good, links, people, touched)


def prepare_records(w: BatchWriter, good: pa.Table, source: str, batch_id: int,
                    received_at: datetime) -> PreparedRecords:
    """Sort, drop repeated keys and encode a block's good rows (pure; runs in a worker thread)."""
    firsts, repeats = _sorted_first_occurrences(good)
    rows = _record_table(firsts, source, batch_id)
    cells = chunk_cells(rows, firsts, received_at) if w.is_postgres else None
    return PreparedRecords(good, firsts, rows, w.record_payload(rows, received_at), repeats, cells)


async def copy_new_records(w: BatchWriter, prep: PreparedRecords, received_at: datetime) -> bool:
    """The part of :func:`store_records` that may run while the batch's previous chunk is still
    being written (PostgreSQL; ``services._ingest_arrow``): when the registry has every firm
    the block names, its rows are copied into ``dept_record`` if every key is new. True: they
    are (pass ``copied=True`` to ``store_records`` for the rest). False: nothing was written,
    and ``store_records`` does it all, after the previous chunk has committed.

    It reads the registry and writes only ``dept_record``, so it never waits for the previous
    chunk unless a key repeats one of that chunk's (then its ``COPY`` waits for that commit and
    fails), and the previous chunk never waits for it."""
    rows = prep.rows
    if not w.is_postgres or not rows.num_rows:
        return False
    usccs = pc.unique(rows["uscc"]).to_pylist()
    if len(await w.existing("firm", "uscc", sorted(usccs))) < len(usccs):
        return False  # some row is rejected: store_records decides which
    return await w.copy_records(rows, received_at, prep.payload)


async def store_records(w: BatchWriter, prep: PreparedRecords, received_at: datetime,
                        rejected: list[Rejection], repeated: list[Repeat], *, batch_id: int,
                        earlier: bool, copied: bool = False) -> tuple[int, int, set[str]]:
    """Store prepared rows: (accepted, duplicates, usccs touched).

    Rows naming a firm the registry does not have are rejected (appended to ``rejected``),
    as in the Python path; every other row is stored unless its key is stored already. Rows
    whose key an earlier row of the batch had are listed in ``repeated`` (``earlier``: some
    earlier block of this batch stored rows, so the database is asked about those too).
    ``copied``: :func:`copy_new_records` wrote every row already, in this transaction.
    """
    good, firsts, rows, payload, repeats = prep.good, prep.firsts, prep.rows, prep.payload, prep.repeats
    cells = prep.cells
    if not good.num_rows:
        return 0, 0, set()
    known = None
    if not copied:  # (copied: every firm is known)
        usccs = pc.unique(rows["uscc"])
        firms = await w.existing("firm", "uscc", sorted(usccs.to_pylist()))
        known_set = pa.array(list(firms), pa.string())
        known = pc.is_in(good["uscc"], value_set=known_set)
    if known is not None and not pc.all(known).as_py():
        unknown = good.filter(pc.invert(known))
        for n, u in zip(unknown["_row"].to_pylist(), unknown["uscc"].to_pylist(), strict=True):
            rejected.append(Rejection(n, "uscc", t("no registered firm has this code: {code}", code=u)))
        good = good.filter(known)
        keep = pc.is_in(rows["uscc"], value_set=known_set)
        rows, firsts = rows.filter(keep), firsts.filter(keep)
        if repeats is not None:
            repeats = repeats.filter(pc.is_in(repeats["uscc"], value_set=known_set))
        payload = w.record_payload(rows, received_at)
        cells = None  # made for every row: the store adds the rows stored instead
        if not good.num_rows:
            return 0, 0, set()
    if repeats is not None:
        key = t("{first} and {second}", first="uscc", second="record_key")
        repeated.extend(Repeat(row, "record_key", t(
            "repeats the {key} of row {row} of this batch, which is the one stored; counted as a duplicate",
            key=key, row=first), first) for row, first in zip(
            repeats["_row"].to_pylist(), repeats["first_row"].to_pylist(), strict=True))
    source = rows["source"][0].as_py()
    store = is_store_kind(source)
    # the mark is for the fallbacks below, which a copied block (every row new) never takes
    mark = await w.max_id("dept_record", source) if (earlier or store) and not copied else None
    inserted = rows.num_rows if copied else await w.insert_records(rows, received_at, payload)
    # the feature store, in the same transaction: the chunk's own cells when every row was new
    if cells is not None and inserted == rows.num_rows:
        await add_cells(w, cells)
    elif store and inserted:
        await add_new_rows(w, source, batch_id, mark)
    if earlier and inserted < rows.num_rows:  # some key was stored before: by this batch?
        uscc, key = firsts["uscc"].to_pylist(), firsts["record_key"].to_pylist()
        found = await w.record_keys_in_batch(batch_id, source, list(zip(uscc, key, strict=True)), mark)
        repeated.extend(Repeat(row, "record_key", EARLIER_IN_BATCH) for row, u, k in zip(
            firsts["_row"].to_pylist(), uscc, key, strict=True) if (u, k) in found)
    touched = set(pc.unique(good["uscc"]).to_pylist()) if inserted else set()
    return inserted, good.num_rows - inserted, touched
