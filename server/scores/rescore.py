"""Re-scoring a few firms at once (after an objection's correction), without a full run.

A firm's indicators depend on its own records only, so scoring it alone with the active model
gives the score the next full run would give. The new scores are written as a scoring run of
their own (``reason`` says why) at the latest scoring date, so the evaluation, which shows a
firm's newest row of its latest date, shows them at once. Superseded records are excluded by
the loaders, as in every scoring path. The firms' monthly feeds come from the feature store's
cells, as in the full re-score (a firm's few hundred cells, where a dense region holds some
18,000 records per firm); the path that reads their records instead, a part of the firms at a
time (``records_in_parts``) with the parts' scores merged as one scoring
(``scoring.partitioned.merge_scores``), gives the same rows and stays as the tests' reference.

A serious event after that date (a hard rule's record: a 90+-days overdue report, a
dishonest-debtor listing) does not wait for the next month end: the firm is scored as of the
event's day, its indicators still as of the latest scoring date (the monthly feeds have not
reported the new month yet) and the hard rules as of the event, so the listing makes the firm D
the moment it is stored. Such a row stays the firm's newest, so every later re-score of the firm
is written at that day too (a correction that removes the listing lifts the grade at once),
until a whole-region run at a later month end supersedes it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
from piccolo.engine.base import Engine

from alerts.digest import local_date
from scoring import ModelRegistry, RegionScores, score_region
from scoring.overrides import new_override_dates
from scoring.partitioned import merge_scores
from scoring.records import FIRM_COLUMNS
from server import db
from server.scores.frames import (
    PART_RECORDS,
    firms_per_part,
    in_parts,
    load_cells,
    load_redeclared_history,
    load_row_kinds,
    records_in_parts,
)
from server.scores.run_rows import run_texts
from server.scores.services import active_override_rules, active_profile_on, profile_version
from server.settings import Settings
from server.tables.firms import Firm
from server.tables.scores import ModelVersion, ScoreHistory, ScoringRun

__all__ = ["EVENT_PREFIX", "RescoreResult", "rescore_firms"]

log = logging.getLogger("xinbao.scores")

_INSERT_CHUNK = 500  # score rows per INSERT (parameter limits of both engines)
#: Reason prefix of the runs that score firms as of a serious event after the latest scoring date.
EVENT_PREFIX = "event:"


@dataclass(slots=True)
class RescoreResult:
    """One re-scoring: which model and date, and each firm's new score and grade. ``as_of`` is
    the latest scoring date; firms scored as of a later serious event are in ``event_days``
    (firm id -> the day), written in runs of their own (``run_ids``)."""

    run_id: int
    model_version: str
    weight_profile_version: str | None
    as_of: date
    override_version: str | None = None
    scores: dict[int, tuple[int, str]] = field(default_factory=dict)
    event_days: dict[int, date] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)


async def _firms_frame(firm_ids: list[int]) -> pd.DataFrame:
    """The firms in ``FIRM_COLUMNS`` form plus ``id``, typed as ``load_firms`` types them."""
    cols = [Firm.id, *(getattr(Firm, c) for c in FIRM_COLUMNS)]
    rows = await Firm.select(*cols).where(Firm.id.is_in(firm_ids)).order_by(Firm.id)
    df = pd.DataFrame(rows, columns=["id", *FIRM_COLUMNS])
    df["founded_on"] = pd.to_datetime(df["founded_on"], errors="coerce")
    df["registered_capital_fen"] = pd.array(df["registered_capital_fen"], dtype="Int64")
    return df


async def rescore_firms(engine: Engine, settings: Settings, firm_ids: list[int],
                        reason: str, *, from_store: bool = True,
                        part_records: int = PART_RECORDS) -> RescoreResult | None:
    """Score just these firms with the active model as of the latest scoring date.

    ``from_store`` (the default, as the full re-score): the monthly feeds come from the feature
    store's cells of these firms (``load_cells(usccs=...)``, shared meters split as the whole
    region's) and the other kinds' current rows, all at once (a few hundred cells per firm).
    Else every current record of theirs, in parts of about ``part_records``
    (``server.scores.frames.PART_RECORDS``): the same scores, at a real region's density with a
    hundred times the reading.

    Returns None when there is nothing to re-score yet (no active model, no scoring run, or
    none of the firms existed by then): the first full run will include the change.
    """
    ids = sorted(set(firm_ids))
    active = await ModelVersion.select(ModelVersion.version).where(
        ModelVersion.active == True).first()  # noqa: E712
    # The latest scoring date: of the runs that score as of a month end, not of an event.
    latest = await ScoringRun.select(ScoringRun.as_of).where(
        ScoringRun.reason.not_like(f"{EVENT_PREFIX}%")).order_by(ScoringRun.as_of, ascending=False).first()
    if not ids or active is None or latest is None:
        return None
    version: str = active["version"]
    as_of: date = latest["as_of"]
    started = datetime.now(UTC)
    model = ModelRegistry(settings.model_dir).load(version).model
    firms = await _firms_frame(ids)
    firms = firms[firms["founded_on"].isna() | (firms["founded_on"] <= pd.Timestamp(as_of))]
    if firms.empty:
        return None
    firms = firms.reset_index(drop=True)
    # The region's today (departments date their records in China time, ahead of UTC).
    today = max(local_date(started), started.date(), as_of)
    # every version of the tax declarations of those with a replaced one: the authenticity
    # checks see re-declarations (a firm with none has no figure)
    history = await load_redeclared_history(engine, firm_usccs := firms["uscc"].tolist())
    profile = await active_profile_on(as_of)
    profile_v = profile_version(profile) if profile else None
    rules = await active_override_rules()
    # Everything known today (from the store: all the firms at once; from the records: a part
    # of the firms at a time, each part's records let go after it, the parts' scores merged as
    # one scoring of them all, industry figures included): the indicators read up to ``as_of``
    # only, the hard rules up to the day. as_of is the latest scoring date, so today's registry
    # status applies (status_known_on).
    common = {"profile": profile, "model_version": version, "overrides": rules, "status_known_on": as_of}
    cells: pd.DataFrame | None = None
    if from_store:
        cells = await load_cells(engine, usccs=firm_usccs)
        stored = await load_row_kinds(engine, today, usccs=firm_usccs)

        async def inputs(usccs: list[str]) -> AsyncIterator[tuple[list[str], pd.DataFrame]]:
            yield usccs, _of(stored, usccs)
    else:
        size = await firms_per_part(engine, part_records)

        def inputs(usccs: list[str]) -> AsyncIterator[tuple[list[str], pd.DataFrame]]:
            return records_in_parts(engine, today, in_parts(usccs, size))

    def cells_of(usccs: list[str]) -> pd.DataFrame | None:
        return None if cells is None else _of(cells, usccs)

    pieces: list[RegionScores] = []
    day_of: dict[str, date] = {}
    kept: list[pd.DataFrame] = []  # the records of the firms scored as of a later event
    async for part, rows in inputs(firm_usccs):
        group = _of(firms, part)
        scored = score_region(model, group, rows, as_of, history=_of(history, part), cells=cells_of(part),
                              **common)
        days = await _event_days(group, rows, rules, as_of, today, scored.overrides)
        if days:
            kept.append(rows[rows["uscc"].isin(days)])
        day_of.update(days)
        pieces.append(scored)
        del rows
    result = _merged(firms, pieces)
    by_day: dict[date, tuple[pd.DataFrame, RegionScores]] = {}  # day -> (its firms, their scores)
    plain = firms[~firms["uscc"].isin(day_of)].reset_index(drop=True)
    if len(plain) == len(firms):
        by_day[as_of] = (firms, result)
    elif len(plain):  # the firms of no later event, scored as a group of their own, in parts again
        pieces = []
        async for part, rows in inputs(plain["uscc"].tolist()):
            pieces.append(score_region(model, _of(plain, part), rows, as_of, history=_of(history, part),
                                       features=result.features.loc[part], cells=cells_of(part), **common))
            del rows
        by_day[as_of] = (plain, _merged(plain, pieces))
    events = pd.concat(kept, ignore_index=True) if kept else None
    for day in sorted(set(day_of.values())):
        # indicators as of the scoring date, the hard rules as of the day
        group = firms[firms["uscc"].map(day_of).eq(day)].reset_index(drop=True)
        by_day[day] = (group, score_region(model, group, events, day, history=history,
                                           features=result.features.loc[group["uscc"].tolist()],
                                           cells=cells_of(group["uscc"].tolist()), **common))

    now = datetime.now(UTC)
    out = RescoreResult(run_id=0, model_version=version, weight_profile_version=profile_v,
                        as_of=as_of, override_version=rules.label)
    async with db.write_transaction():  # the runs and their scores land together or not at all
        for day, (group, scored) in by_day.items():
            event = day != as_of
            run = ScoringRun(model_version=version, weight_profile_version=profile_v,
                             override_version=rules.label, as_of=day, started_at=started,
                             finished_at=now, firms=len(group),
                             reason=(f"{EVENT_PREFIX}{reason}" if event else reason)[:30])
            await run.save()
            out.run_ids.append(int(run.id))
            table = scored.table
            dimensions, reasons, confidence = run_texts(scored)
            rows: list[ScoreHistory] = []
            for i, firm_id in enumerate(group["id"].tolist()):
                score, grade = int(table["score"].iloc[i]), str(table["grade"].iloc[i])
                rows.append(ScoreHistory(
                    firm=int(firm_id), run=run.id, as_of=day, score=score, grade=grade,
                    pd=float(table["pd"].iloc[i]), dimensions=dimensions[i], reasons=reasons[i],
                    model_version=version, weight_profile_version=profile_v, override_version=rules.label,
                    data_confidence=confidence[i], created_at=now,
                ))
                out.scores[int(firm_id)] = (score, grade)
                if event:
                    out.event_days[int(firm_id)] = day
            for start in range(0, len(rows), _INSERT_CHUNK):
                await ScoreHistory.insert(*rows[start:start + _INSERT_CHUNK])
    out.run_id = out.run_ids[0]
    log.info("re-scored %d firm(s) as of %s (%s): %s%s", len(out.scores), as_of, reason, out.scores,
             f"; as of a serious event: {out.event_days}" if out.event_days else "")
    return out


def _of(frame: pd.DataFrame, usccs: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` of these firms, in its own order."""
    return frame[frame["uscc"].isin(usccs)].reset_index(drop=True)


def _merged(firms: pd.DataFrame, pieces: list[RegionScores]) -> RegionScores:
    """The parts' scores as one scoring of ``firms`` (one part: itself)."""
    return pieces[0] if len(pieces) == 1 else merge_scores(firms, pieces)


async def _event_days(firms: pd.DataFrame, records: pd.DataFrame, rules: object, as_of: date,
                      today: date, then: pd.DataFrame | None) -> dict[str, date]:
    """uscc -> the day a firm is scored as of, for the firms not scored as of ``as_of``: a hard
    rule that hit it after ``as_of`` (the record's day), or its newest stored score's later day
    (a row written for such an event stays the firm's newest until a later month end)."""
    days: dict[str, date] = {}
    hit = new_override_dates(rules, firms, records, as_of, today, then).dropna()  # type: ignore[arg-type]
    for uscc, day in hit.items():
        days[str(uscc)] = day.date()
    stored = await ScoreHistory.select(ScoreHistory.firm.uscc, ScoreHistory.as_of).where(
        ScoreHistory.firm.is_in(firms["id"].tolist()) & (ScoreHistory.as_of > as_of))
    for row in stored:
        uscc, day = row["firm.uscc"], row["as_of"]
        day = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
        if day > days.get(uscc, as_of):
            days[uscc] = day
    return days
