"""Re-packing the firms whose cells changed (``firm_pack_dirty``) into ``firm_pack``
(:mod:`server.scores.cell_packs`).

Run after a stored batch (:func:`server.after_ingest.after_ingest`, step 0) and before a full
re-score (:func:`server.scores.pipeline.score_platform`); a reader is exact whether it ran or
not, only slower for the firms still marked. One run at a time on a database (a session
advisory lock): two runs could otherwise write one firm's pack in the wrong order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from server.scores.cell_packs import PACK_COLUMNS, encode
from server.scores.frames import _cells

__all__ = ["PACK_FIRMS", "Packed", "pack_dirty"]

log = logging.getLogger("xinbao.packing")

#: Firms re-packed per transaction: at Weihai's density about 0.4 M cells read and 45 MB written.
PACK_FIRMS = 2_000
#: The advisory lock of a run (``hashtext('firm_pack')`` would do, a constant reads plainer).
_LOCK = 0x5842_5041  # "XBPA"


@dataclass(slots=True)
class Packed:
    """What a run did: firms re-packed, packs removed (firms left without cells), and marks
    left because the firm changed again while it was packed."""

    firms: int = 0
    removed: int = 0
    still_marked: int = 0


async def pack_dirty(engine: Engine, *, firms_per_round: int = PACK_FIRMS) -> Packed:
    """Re-pack every firm marked in ``firm_pack_dirty`` when the run starts, ``firms_per_round``
    at a time, in USCC order. For each round: read the marks (USCC and change number), read
    those firms' cells, then in one transaction write their packs, remove the packs of firms
    with no cell left, and clear each mark whose number is unchanged. A mark whose number
    changed (a writer committed meanwhile, or holds the row and commits after: the delete waits
    for it, then sees the new number) stays, so the reader keeps reading that firm's rows.
    Nothing on SQLite (no packs there)."""
    done = Packed()
    if not isinstance(engine, PostgresEngine):
        return done
    # a connection of its own, closed after: the session lock goes with it even if the run is
    # cancelled before it unlocks (a pooled connection would keep it for its next user)
    conn = await engine.get_new_connection()
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
        after = ""
        while True:
            marks = await conn.fetch("SELECT uscc, change FROM firm_pack_dirty WHERE uscc > $1 "
                                     "ORDER BY uscc LIMIT $2", after, firms_per_round)
            if not marks:
                break
            usccs = [m["uscc"] for m in marks]
            after = usccs[-1]
            cells = await _cells(engine, " WHERE uscc = ANY(?)", (usccs,), firms=len(usccs),
                                 expect=len(usccs) * 200)
            rows = await asyncio.to_thread(encode, cells)
            del cells
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_firm_pack "
                                   "(LIKE firm_pack) ON COMMIT DROP")
                await conn.copy_records_to_table("stage_firm_pack", records=rows, columns=list(PACK_COLUMNS))
                names = ", ".join(PACK_COLUMNS)
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in PACK_COLUMNS[1:])
                await conn.execute(f"INSERT INTO firm_pack AS p ({names}) SELECT {names} FROM stage_firm_pack "
                                   f"ON CONFLICT (uscc) DO UPDATE SET {sets}")
                removed = await conn.execute(
                    "DELETE FROM firm_pack p WHERE p.uscc = ANY($1) "
                    "AND NOT EXISTS (SELECT 1 FROM stage_firm_pack s WHERE s.uscc = p.uscc)", usccs)
                cleared = await conn.execute(
                    "DELETE FROM firm_pack_dirty d USING unnest($1::text[], $2::int8[]) AS m(uscc, change) "
                    "WHERE d.uscc = m.uscc AND d.change = m.change",
                    usccs, [m["change"] for m in marks])
            done.firms += len(rows)
            done.removed += int(removed.split()[-1])
            done.still_marked += len(marks) - int(cleared.split()[-1])
    finally:
        await conn.close()
    if done.firms or done.removed:
        log.info("packed %d firms' cells (%d packs removed, %d firms changed meanwhile)",
                 done.firms, done.removed, done.still_marked)
    return done
