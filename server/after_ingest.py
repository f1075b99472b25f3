"""What follows a stored department batch, as one named process.

A batch commits in :func:`server.ingest.services.ingest`; then, for the firms it touched:

0. :func:`server.scores.packing.pack_dirty` packs the feature store's cells of the firms
   changed (one row per firm, read by the next whole-region re-score), a region-sized batch's
   too (at 10,000 firms about 4.7 s, which the nightly re-score then need not pay);
1. :func:`touched_firms` turns the batch's USCCs into firm ids, once;
2. :func:`server.scores.rescore.rescore_firms` re-scores them with the active model (indicators
   from their records, the override rules, the weight profile), as of the latest scoring date
   or of a serious event's own day;
3. :func:`server.risk.scan.scan` evaluates every warning rule for them (grade changes from step 2
   included), spreads red firms' distress through the guarantee network (DebtRank contagion,
   with the firms tied to them), and in the same transaction writes the warnings and the
   notifications of the changes that matter, which the outbox then pushes;
4. :func:`server.projects.tracking.track_projects` tracks their open supported projects on the
   new data (promises against the month's figures, the warnings of step 3 included) and pushes
   the deviations to the owners and the granting department.

The ingest route runs it after its answer is sent, through the process's :class:`Followers`:
one run at a time, the firms of the batches committed meanwhile gathered into the next run. (A
run per batch, side by side, held every run's frames at once: an API process sent 16 batches of
480,000 rows one after another peaked at 12.2 GB, against 6.2 GB one run at a time; see
``docs/architecture.md``.) ``xinbao ingest`` runs it after the file is stored,
and the scheduler's ``incremental_rescore`` for firms whose records arrived by another way (a
safety net if the process above died). Running it twice for the same batch changes nothing a
user sees: the re-score gives the same scores on the same data and the scan raises nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from piccolo.engine.base import Engine

from server.projects.tracking import TrackResult, track_projects
from server.risk.scan import INCREMENTAL_LIMIT, ScanResult, scan
from server.scores.packing import pack_dirty
from server.scores.pipeline import release_frames
from server.scores.rescore import RescoreResult, rescore_firms
from server.settings import Settings
from server.tables.firms import Firm

__all__ = ["AfterIngest", "Followers", "after_ingest", "follow_firms", "followers", "touched_firms"]

log = logging.getLogger("xinbao.after_ingest")


@dataclass(slots=True)
class AfterIngest:
    """What the process did: the firms, their re-scoring (None before the first model or
    scoring run), the warning scan and the tracking of their supported projects."""

    firm_ids: list[int]
    rescore: RescoreResult | None
    scan: ScanResult
    projects: TrackResult | None = None


async def touched_firms(usccs: Collection[str]) -> list[int]:
    """The ids of the registered firms among the batch's USCCs."""
    rows = await Firm.select(Firm.id).where(Firm.uscc.is_in(sorted(set(usccs))))
    return sorted(r["id"] for r in rows)


async def follow_firms(engine: Engine, settings: Settings, firm_ids: list[int], reason: str,
                       as_of: datetime | None = None) -> AfterIngest:
    """Steps 2 to 4 for these firms: re-score, scan as of ``as_of`` (default now) for the rules,
    contagion and notifications, then track their projects."""
    rescored = await rescore_firms(engine, settings, firm_ids, reason)
    scanned = await scan(engine, settings, as_of, firm_ids)
    tracked = await track_projects(engine, firm_ids)
    return AfterIngest(firm_ids=firm_ids, rescore=rescored, scan=scanned, projects=tracked)


async def after_ingest(engine: Engine, settings: Settings, usccs: Collection[str]) -> AfterIngest | None:
    """The whole process for the firms one committed batch touched. None when it touched none,
    or more than ``INCREMENTAL_LIMIT`` (a region-sized file: the nightly re-scoring and the
    full scan take those, cheaper in one pass). Errors are logged, not raised: the batch is
    stored whatever follows, and the scheduler's ``incremental_rescore`` catches up."""
    if not usccs:
        return None
    try:  # the batch's firms' cells packed, a region-sized batch's too: the next whole-region
        # read (the nightly re-score, the scan's parts) then reads packs, not rows
        await pack_dirty(engine)
    except Exception:  # noqa: BLE001 - a reader reads the rows of a firm not packed: exact, slower
        log.exception("packing the changed firms' cells failed")
    if len(usccs) > INCREMENTAL_LIMIT:
        log.info("ingest touched %d firms: left to the scheduled re-scoring and warning scan", len(usccs))
        return None
    try:
        firm_ids = await touched_firms(usccs)
        return await follow_firms(engine, settings, firm_ids, "ingest") if firm_ids else None
    except Exception:  # noqa: BLE001 - the batch is committed; the scheduled jobs catch up
        log.exception("re-scoring and warning scan after ingest failed")
        return None


class Followers:
    """What follows the batches of one process, one run at a time.

    :meth:`submit` adds a committed batch's USCCs. If no run is going, it runs ``run`` for
    them, then again for whatever arrived during that run, until nothing is left. If a run is
    going, the USCCs wait for the next run, and the call returns at once. So a process never
    holds more than one run's frames, and a burst of batches costs one run more, not one run
    each. Firms left waiting when the process stops are caught up by the scheduler's
    ``incremental_rescore``, like a run that failed."""

    def __init__(self, run: Callable[[set[str]], Awaitable[object]]) -> None:
        self._run = run
        self._waiting: set[str] = set()
        self._busy = False
        self.runs = 0

    @property
    def waiting(self) -> int:
        """How many USCCs wait for the next run."""
        return len(self._waiting)

    async def submit(self, usccs: Collection[str]) -> None:
        self._waiting.update(usccs)
        if self._busy:  # the run going takes them next (one event loop: no await since the check)
            return
        self._busy = True
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, set()
                self.runs += 1
                await self._run(batch)
                # whatever the re-score and the scan left in reference cycles (scoring leaves none;
                # the rest is not checked): freed now, not at the collector's next full pass
                release_frames()
        finally:
            self._busy = False


def followers(engine: Engine, settings: Settings) -> Followers:
    """The :class:`Followers` of a process that writes batches into ``engine``."""
    return Followers(lambda usccs: after_ingest(engine, settings, usccs))
