"""Reading department files: CSV (with header) or JSON Lines, as a stream of raw rows."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from server.texts import Text, Written, t

__all__ = ["ArrowBlock", "FeedFormatError", "RawRow", "detect_format", "iter_bytes", "iter_file",
           "read_batches", "read_csv_blocks", "read_rows"]

# (1-based data row number, the row's cells (a list for CSV, in header order; a dict for
# JSON Lines), problem with the row's shape (a Text) or None)
RawRow = tuple[int, "list[str] | dict[str, object]", str | None]


class FeedFormatError(ValueError):
    """The file as a whole cannot be read (no header, not UTF-8, not JSON Lines)."""

    def __init__(self, field: str, message: Text) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _why(reason: str) -> Text:
    """What a decoder, JSON or CSV reader said (English), for people: the usual ones from the
    catalogue, anything else in its own words."""
    known = {
        # UTF-8 decoding
        "invalid start byte": t("invalid start byte"),
        "invalid continuation byte": t("invalid continuation byte"),
        "unexpected end of data": t("unexpected end of data"),
        # JSON
        "Expecting value": t("Expecting value"),
        "Expecting property name enclosed in double quotes": t("Expecting property name enclosed in double quotes"),
        "Expecting ':' delimiter": t("Expecting ':' delimiter"),
        "Expecting ',' delimiter": t("Expecting ',' delimiter"),
        "Extra data": t("Extra data"),
        "Unterminated string starting at": t("Unterminated string starting at"),
        "Invalid control character at": t("Invalid control character at"),
        "Invalid \\escape": t("Invalid \\escape"),
        "Invalid \\uXXXX escape": t("Invalid \\uXXXX escape"),
        # CSV
        "line contains NUL": t("line contains NUL"),
    }
    if reason in known:
        return known[reason]
    if m := re.fullmatch(r"field larger than field limit \((\d+)\)", reason):
        return t("field larger than field limit ({limit})", limit=int(m[1]))
    if reason.startswith("new-line character seen in unquoted field"):
        return t("new-line character seen in unquoted field")
    if reason.startswith("Exceeds the limit ("):
        return t("a number has too many digits")
    return Written("无法读取", reason)  # the reader's own words for English readers


def detect_format(filename: str | None, content_type: str | None, head: bytes) -> str:
    """``csv`` or ``jsonl``, from the file name, the content type or the first byte."""
    name = (filename or "").lower()
    ctype = (content_type or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")) or "json" in ctype:
        return "jsonl"
    if name.endswith(".csv") or "csv" in ctype:
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


def _lines(chunks: Iterable[bytes], bom: bool = True) -> Iterator[str]:
    """Decode UTF-8 (with or without BOM) chunk by chunk, so huge files stream.

    ``bom=False`` continues a file mid-way, where U+FEFF is an ordinary character.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig" if bom else "utf-8")()
    pending = ""
    try:
        for chunk in chunks:
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise FeedFormatError("file", t("file is not valid UTF-8 text ({reason})", reason=_why(exc.reason))) from exc
    if pending:
        yield pending


def read_rows(chunks: Iterable[bytes], fmt: str) -> tuple[list[str], Iterator[RawRow]]:
    """The header (field names) and an iterator over the data rows."""
    if fmt == "csv":
        return _read_csv(_lines(chunks))
    if fmt == "jsonl":
        return [], _read_jsonl(_lines(chunks))
    raise FeedFormatError("format", t("unknown format {format!r}; use csv or jsonl", format=fmt))


def _read_csv(lines: Iterator[str]) -> tuple[list[str], Iterator[RawRow]]:
    header, batches = _csv_batches(lines, 10_000)

    def rows() -> Iterator[RawRow]:
        for batch in batches:
            yield from batch

    return header, rows()


def read_batches(chunks: Iterable[bytes], fmt: str, size: int) -> tuple[list[str], Iterator[list[RawRow]]]:
    """Like ``read_rows`` but ``size`` rows at a time: the fast path for big CSV files."""
    if fmt == "csv":
        return _csv_batches(_lines(chunks), size)
    if fmt == "jsonl":
        rows = _read_jsonl(_lines(chunks))
        return [], iter(lambda: list(islice(rows, size)), [])
    raise FeedFormatError("format", t("unknown format {format!r}; use csv or jsonl", format=fmt))


def _csv_batches(lines: Iterator[str], size: int) -> tuple[list[str], Iterator[list[RawRow]]]:
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FeedFormatError("file", t("file is empty: expected a header row")) from None
    except csv.Error as exc:
        raise FeedFormatError("file", t("unreadable CSV header: {error}", error=_why(str(exc)))) from exc
    if not any(header):
        raise FeedFormatError("file", t("header row is empty"))
    return header, _csv_data_batches(reader, header, size, 0)


def _csv_data_batches(reader: Iterator[list[str]], header: list[str], size: int, start: int
                      ) -> Iterator[list[RawRow]]:
    """Data rows after the header, numbered from ``start + 1``, ``size`` at a time."""
    width = len(header)

    def batches() -> Iterator[list[RawRow]]:
        n = start
        while True:
            block: list[list[str]] = []
            try:
                block.extend(islice(reader, size))
            except csv.Error as exc:
                # A structurally broken file (NUL bytes, runaway quotes) is refused whole; the
                # row named is the last complete one, whatever the batch boundaries.
                done = n + sum(1 for cells in block if cells and (len(cells) > 1 or cells[0].strip()))
                raise FeedFormatError("file", t("unreadable CSV after data row {row}: {error}", row=done,
                                                  error=_why(str(exc)))) from exc
            if not block:
                return
            if all(len(cells) == width for cells in block):  # the usual case: no per-row checks
                yield [(n + i + 1, cells, None) for i, cells in enumerate(block)]
                n += len(block)
                continue
            out: list[RawRow] = []
            for cells in block:
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # blank line
                n += 1
                if len(cells) < width:
                    out.append((n, {"_field": header[len(cells)]},
                                t("row has {cells} cells, header has {width}", cells=len(cells), width=width)))
                elif len(cells) > width:
                    out.append((n, {}, t("row has {cells} cells, header has {width}", cells=len(cells), width=width)))
                else:
                    out.append((n, cells, None))
            if out:
                yield out

    return batches()


@dataclass(slots=True)
class ArrowBlock:
    """Consecutive data rows parsed by Arrow: ``table`` has one string column per header
    field (``c0``, ``c1``, ... in header order) and its row i is data row ``start + i + 1``."""

    start: int
    table: pa.Table


def read_csv_blocks(chunks: Iterable[bytes], size: int
                    ) -> tuple[list[str], Iterator[ArrowBlock | list[RawRow]]]:
    """CSV as blocks of about ``size`` rows, parsed by Arrow where that is exactly equivalent.

    Gives the same header, rows, row numbers and errors as ``read_batches(chunks, "csv",
    size)``: Arrow parses a block only when it has no quotes, NUL bytes or lone carriage
    returns and every row has the header's width (then Python's ``csv`` module would split it
    the same way, on commas and newlines). Otherwise the block, or from the first quote on the
    rest of the file (a quoted newline may span blocks), goes through ``read_batches``' own
    code, and comes out as ``RawRow`` lists.
    """
    it = iter(chunks)
    buf = b""
    for chunk in it:
        buf += chunk
        if b"\n" in buf:
            break
    line_end = buf.find(b"\n") + 1 or len(buf)
    first, buf = buf[:line_end], buf[line_end:]
    if not _plain(first):  # a quoted header: the whole file takes the Python path
        return _csv_batches(_lines(chain([first, buf], it)), size)
    header, _ = _csv_batches(_lines([first]), size)  # same header rules and errors
    return header, _blocks(header, buf, it, size)


_SCAN = 64 << 20


def _plain(data: bytes) -> bool:
    """True when Python's csv reader would split ``data`` on commas and newlines only."""
    return (b'"' not in data and b"\x00" not in data
            and data.count(b"\r") == data.count(b"\r\n"))


def _blocks(header: list[str], buf: bytes, it: Iterator[bytes], size: int
            ) -> Iterator[ArrowBlock | list[RawRow]]:
    width = len(header)
    names = [f"c{i}" for i in range(width)]
    read_opts = pa_csv.ReadOptions(column_names=names, block_size=1 << 22)
    parse_opts = pa_csv.ParseOptions(quote_char=False, newlines_in_values=False, ignore_empty_lines=True)
    convert_opts = pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                         strings_can_be_null=False)
    decoder = codecs.getincrementaldecoder("utf-8")()
    n = pos = 0
    exhausted = False
    while not exhausted or pos < len(buf):
        # Gather complete lines for about ``size`` rows; a huge chunk (a whole upload) is cut
        # into several blocks without copying what follows, and newlines are never counted
        # over more than _SCAN bytes at once.
        while not exhausted and (buf.count(b"\n", pos, pos + _SCAN) < size and len(buf) - pos < _SCAN
                                 or buf.find(b"\n", pos) < 0):
            chunk = next(it, None)
            if chunk is None:
                exhausted = True
            else:
                buf, pos = buf[pos:] + chunk, 0
        window = min(len(buf), pos + _SCAN)
        lines = buf.count(b"\n", pos, window)
        if lines > size:
            approx = pos + (window - pos) * size // lines
            cut = buf.find(b"\n", approx, window) + 1 or buf.rfind(b"\n", pos, window) + 1
        elif exhausted:
            cut = len(buf)
        else:
            cut = buf.rfind(b"\n", pos, window) + 1 or buf.find(b"\n", pos) + 1
        block, pos = buf[pos:cut], cut
        if not block:
            continue
        try:
            decoder.decode(block, final=exhausted and pos == len(buf))
        except UnicodeDecodeError as exc:
            raise FeedFormatError("file", t("file is not valid UTF-8 text ({reason})", reason=_why(exc.reason))) from exc
        if not _plain(block):  # quotes can span blocks: the rest of the file is read by Python
            reader = csv.reader(_lines(chain([block, buf[pos:]], it), bom=False))
            yield from _csv_data_batches(reader, header, size, n)
            return
        table = _arrow_table(block, read_opts, parse_opts, convert_opts)
        if table is None:  # rows of the wrong width (or oversized cells): this block by Python
            for rows in _csv_data_batches(csv.reader(_lines([block], bom=False)), header, size, n):
                n = rows[-1][0]
                yield rows
            continue
        if table.num_rows:
            yield ArrowBlock(n, table)
            n += table.num_rows


def _arrow_table(block: bytes, read_opts: pa_csv.ReadOptions, parse_opts: pa_csv.ParseOptions,
                 convert_opts: pa_csv.ConvertOptions) -> pa.Table | None:
    """The block's rows as string columns, or None when Python's reader must judge them."""
    if block.startswith(b"\xef\xbb\xbf"):  # Arrow would drop it as a byte-order mark
        return None
    try:
        table = pa_csv.read_csv(io.BytesIO(block), read_options=read_opts, parse_options=parse_opts,
                                convert_options=convert_opts)
    except pa.ArrowInvalid:
        return None
    limit = csv.field_size_limit()
    for col in table.columns:  # csv refuses a file with a cell over its field size limit
        if len(col) and pc.max(pc.utf8_length(col)).as_py() > limit:
            return None
    return table.combine_chunks()


def _read_jsonl(lines: Iterator[str]) -> Iterator[RawRow]:
    n = 0
    for line in lines:
        if not line.strip():
            continue
        n += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, {}, t("not valid JSON: {error}", error=_why(exc.msg))
            continue
        except RecursionError:
            yield n, {}, t("not valid JSON: nested too deeply")
            continue
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            yield n, {}, t("not valid JSON: {error}", error=_why(str(exc)[:100]))
            continue
        if not isinstance(obj, dict):
            yield n, {}, t("each line must be a JSON object")
            continue
        yield n, obj, None


def iter_file(path: str, size: int = 1 << 20) -> Iterator[bytes]:
    """Read a file in chunks."""
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def iter_bytes(data: bytes) -> Iterator[bytes]:
    """One chunk: an in-memory upload."""
    yield data

