"""Reading firms and department records out of the database as the frames ``scoring`` takes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import date

import pandas as pd
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from scoring.records import FIRM_COLUMNS, RECORD_COLUMNS
from server.db import sqlite_path_of

__all__ = ["load_firms", "load_records"]

_RECORD_SQL = (
    "SELECT uscc, source AS kind, event_date, end_date, category, amount_fen, arrears_fen, "
    "quantity, days, status, attrs FROM dept_record WHERE superseded_at IS NULL"
)
_FIRM_SQL = f"SELECT id, {', '.join(FIRM_COLUMNS)} FROM firm"


async def _query(engine: Engine, sql: str, args: tuple = ()) -> pd.DataFrame:
    if isinstance(engine, PostgresEngine):
        n = 0

        def mark(_: str) -> str:
            nonlocal n
            n += 1
            return f"${n}"

        parts = sql.split("?")
        pg_sql = "".join(p + (mark(p) if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        conn = await (engine.pool.acquire() if engine.pool else engine.get_new_connection())
        try:
            stmt = await conn.prepare(pg_sql)
            rows = await stmt.fetch(*args)
            cols = [a.name for a in stmt.get_attributes()]
        finally:
            if engine.pool:
                await engine.pool.release(conn)
            else:
                await conn.close()
        return pd.DataFrame.from_records([tuple(r) for r in rows], columns=cols)

    path = sqlite_path_of(engine)

    def read() -> pd.DataFrame:
        with sqlite3.connect(path, timeout=30) as conn:
            return pd.read_sql_query(sql, conn, params=args)

    return await asyncio.to_thread(read)


async def load_records(engine: Engine, as_of: date | None = None,
                       usccs: list[str] | None = None) -> pd.DataFrame:
    """Department records known by ``as_of`` (all if None), in ``RECORD_COLUMNS`` form."""
    sql, args = _RECORD_SQL, []
    if as_of is not None:
        sql += " AND event_date <= ?"
        args.append(as_of if isinstance(engine, PostgresEngine) else as_of.isoformat())
    if usccs is not None:
        if not usccs:
            return pd.DataFrame(columns=list(RECORD_COLUMNS))
        if isinstance(engine, PostgresEngine):
            sql += " AND uscc = ANY(?)"
            args.append(list(usccs))
        else:
            sql += f" AND uscc IN ({', '.join('?' * len(usccs))})"
            args.extend(usccs)
    df = await _query(engine, sql, tuple(args))
    return normalise_records(df)


def normalise_records(df: pd.DataFrame) -> pd.DataFrame:
    """Dtypes as ``scoring.records`` documents them, whichever engine the rows came from."""
    if df.empty:
        df = pd.DataFrame(columns=list(RECORD_COLUMNS))
    for col in ("event_date", "end_date"):
        df[col] = pd.to_datetime(df[col], errors="coerce")
    for col in ("amount_fen", "arrears_fen", "days"):
        df[col] = pd.array(df[col], dtype="Int64")
    df["quantity"] = pd.to_numeric(df["quantity"], errors="coerce").astype(float)
    df["attrs"] = [json.loads(a) if isinstance(a, str) else a for a in df["attrs"]]
    return df[list(RECORD_COLUMNS)]


async def load_firms(engine: Engine) -> pd.DataFrame:
    """All firms in ``FIRM_COLUMNS`` form, plus their database ``id``."""
    df = await _query(engine, _FIRM_SQL)
    df["founded_on"] = pd.to_datetime(df["founded_on"], errors="coerce")
    df["registered_capital_fen"] = pd.array(df["registered_capital_fen"], dtype="Int64")
    return df
