"""Reading department files: CSV (with header) or JSON Lines, as a stream of raw rows."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator
from itertools import islice

__all__ = ["FeedFormatError", "RawRow", "detect_format", "iter_bytes", "iter_file", "read_batches", "read_rows"]

# (1-based data row number, the row's cells (a list for CSV, in header order; a dict for
# JSON Lines), problem with the row's shape or None)
RawRow = tuple[int, "list[str] | dict[str, object]", str | None]


class FeedFormatError(ValueError):
    """The file as a whole cannot be read (no header, not UTF-8, not JSON Lines)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def detect_format(filename: str | None, content_type: str | None, head: bytes) -> str:
    """``csv`` or ``jsonl``, from the file name, the content type or the first byte."""
    name = (filename or "").lower()
    ctype = (content_type or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")) or "json" in ctype:
        return "jsonl"
    if name.endswith(".csv") or "csv" in ctype:
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{" else "csv"


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decode UTF-8 (with or without BOM) chunk by chunk, so huge files stream."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    try:
        for chunk in chunks:
            pending += decoder.decode(chunk)
            *complete, pending = pending.split("\n")
            for line in complete:
                yield line + "\n"
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise FeedFormatError("file", f"file is not valid UTF-8 text ({exc.reason})") from exc
    if pending:
        yield pending


def read_rows(chunks: Iterable[bytes], fmt: str) -> tuple[list[str], Iterator[RawRow]]:
    """The header (field names) and an iterator over the data rows."""
    if fmt == "csv":
        return _read_csv(_lines(chunks))
    if fmt == "jsonl":
        return [], _read_jsonl(_lines(chunks))
    raise FeedFormatError("format", f"unknown format {fmt!r}; use csv or jsonl")


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
    raise FeedFormatError("format", f"unknown format {fmt!r}; use csv or jsonl")


def _csv_batches(lines: Iterator[str], size: int) -> tuple[list[str], Iterator[list[RawRow]]]:
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FeedFormatError("file", "file is empty: expected a header row") from None
    except csv.Error as exc:
        raise FeedFormatError("file", f"unreadable CSV header: {exc}") from exc
    if not any(header):
        raise FeedFormatError("file", "header row is empty")
    width = len(header)

    def batches() -> Iterator[list[RawRow]]:
        n = 0
        while True:
            try:
                block = list(islice(reader, size))
            except csv.Error as exc:
                # A structurally broken file (NUL bytes, runaway quotes) is refused whole.
                raise FeedFormatError("file", f"unreadable CSV after data row {n}: {exc}") from exc
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
                                f"row has {len(cells)} cells, header has {width}"))
                elif len(cells) > width:
                    out.append((n, {}, f"row has {len(cells)} cells, header has {width}"))
                else:
                    out.append((n, cells, None))
            if out:
                yield out

    return header, batches()


def _read_jsonl(lines: Iterator[str]) -> Iterator[RawRow]:
    n = 0
    for line in lines:
        if not line.strip():
            continue
        n += 1
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, {}, f"not valid JSON: {exc.msg}"
            continue
        if not isinstance(obj, dict):
            yield n, {}, "each line must be a JSON object"
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

