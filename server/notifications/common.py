"""What the notification modules share: the transaction they write in, the LISTEN/NOTIFY
channel of the outbox, the access-log names of a detailed delivery, chunked IN lists."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from piccolo.columns.combination import WhereRaw

from server import db

__all__ = ["ACTIVE_APPLICATION", "OUTBOX_NOTIFY_CHANNEL", "VIEW_INBOX", "VIEW_PUSH",
           "VIEW_WEBHOOK", "chunks", "json_ready", "one_of", "transaction"]

# Applications that make a firm "your applicant or borrower" for the bank's managers.
ACTIVE_APPLICATION = ("pending", "approved", "disbursed", "defaulted")
OUTBOX_NOTIFY_CHANNEL = "xinbao_outbox"  # PostgreSQL LISTEN/NOTIFY channel that wakes the relay
# ``AccessLog.what`` of a detailed warning delivered to a bank, by channel.
VIEW_INBOX, VIEW_PUSH, VIEW_WEBHOOK = "warning", "warning_push", "warning_webhook"
_CHUNK = 500
T = TypeVar("T")

#: One transaction, IMMEDIATE on SQLite (callers read, then write); joins an open one.
transaction = db.write_transaction


def chunks(items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def one_of(column: Any, values: Sequence[int] | Sequence[str]) -> WhereRaw:
    """``column IN values`` with the values as one parameter: Piccolo builds a long ``is_in``
    list at ~50 µs per value, which dominated a 10,000-user fan-out (and has parameter limits)."""
    name = f'"{column._meta.table._meta.tablename}"."{column._meta.db_column_name}"'
    if db.on_postgres():
        return WhereRaw(f"{name} = ANY({{}})", list(values))
    return WhereRaw(f"{name} IN (SELECT value FROM json_each({{}}))", json.dumps(list(values)))


def json_ready(value: dict[str, Any]) -> dict[str, Any]:
    """The dict as it will come back from the JSON column (dates as strings), for comparing."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))
