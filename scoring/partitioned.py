"""Scoring a region in parts, by a stable hash of the USCC, and putting the parts together.

A firm's indicators, scorecard points, hard rules and authenticity checks read its own records
only, so a region splits into parts that are scored on their own: on other processes or other
machines (``server.scores.distributed`` hands them to a Dask cluster). Two things read across
firms and are dealt with around the parts:

- a shared electricity meter's readings are split among its firms (``split_shared_meters`` /
  ``split_cells``) *before* the region is split, so each part gets every firm's own share and the
  number of firms on its meters;
- the industry percentiles and averages compare firms of one industry, wherever their parts
  went: :func:`merge_scores` computes them again over the whole region.

``score_in_parts(..., map_parts=...)`` equals :func:`scoring.pipeline.score_region` on the
whole region (same table, features, overrides and authenticity figures, in the order of
``firms``), whatever the number of parts; ``map_parts`` runs the parts (the default: one after
the other, in this process).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .authenticity import Assessment, CheckResult
from .explain import industry_comparison
from .pipeline import RegionScores, score_region
from .scorecard import ScoreBatch

__all__ = ["Part", "linked_groups", "merge_scores", "part_of", "score_in_parts", "score_part", "split_region"]

#: One part of a region: its firms and their rows of each frame given (None where not given).
Part = dict[str, pd.DataFrame | None]


def part_of(usccs: Sequence[str] | pd.Series | np.ndarray, parts: int) -> np.ndarray:
    """The part (0..parts-1) of each USCC: CRC-32 of its text modulo ``parts``, the same on every
    machine and in every run (Python's own ``hash`` of a string is not)."""
    return np.fromiter((zlib.crc32(str(u).encode()) % parts for u in usccs), dtype=np.int64,
                       count=len(usccs))


def linked_groups(usccs: Sequence[str] | pd.Series | np.ndarray, pair_firms: Sequence[str] | pd.Series | np.ndarray,
                  pair_keys: Sequence[str] | pd.Series | np.ndarray) -> np.ndarray:
    """Each of ``usccs``' group: the smallest USCC among the firms tied to it, directly or
    through other firms, by sharing a key (a pair ``(pair_firms[i], pair_keys[i])`` says the
    firm reads that key: an electricity meter). A firm tied to none is its own group. Firms of
    the pairs that are not in ``usccs`` still tie the others (a firm between two meters).

    Parts cut by these groups (``split_region(..., groups=...)``) keep every shared meter's
    firms together, so a part's split of its meters needs no firm of another part."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    mine = np.asarray(usccs, dtype=object)
    if len(pair_firms) == 0:
        return mine.copy()
    # every firm once, in text order (so a group's smallest code is its smallest USCC), then
    # the keys: one graph whose edges join each firm to the keys it reads
    names, codes = np.unique(np.concatenate([mine, np.asarray(pair_firms, dtype=object)]).astype(str),
                             return_inverse=True)
    keys, key_codes = np.unique(np.asarray(pair_keys, dtype=object).astype(str), return_inverse=True)
    nodes = len(names) + len(keys)
    edges = coo_matrix((np.ones(len(key_codes), dtype=np.int8), (codes[len(mine):], len(names) + key_codes)),
                       shape=(nodes, nodes))
    _, label = connected_components(edges, directed=False)
    smallest = np.full(label.max() + 1, len(names), dtype=np.int64)
    np.minimum.at(smallest, label[:len(names)], np.arange(len(names)))
    return names[smallest[label[codes[:len(mine)]]]].astype(object)


def split_region(firms: pd.DataFrame, parts: int, groups: Sequence[str] | np.ndarray | None = None,
                 **frames: pd.DataFrame | None) -> list[Part]:
    """``firms`` and every frame of ``frames`` (each with a ``uscc`` column, or None) cut into
    the parts of :func:`part_of`; empty parts are left out. ``groups`` (one per firm: see
    :func:`linked_groups`): firms of one group go to one part, the part of the group's key; a
    frame's row goes with its firm (a row of a firm not in ``firms``: by its own USCC)."""
    firm_part = part_of(firms["uscc"] if groups is None else groups, parts)
    if groups is None:
        keyed = {name: (f, part_of(f["uscc"], parts)) for name, f in frames.items() if f is not None}
    else:
        at = pd.Index(firms["uscc"])
        keyed = {}
        for name, f in frames.items():
            if f is None:
                continue
            pos = at.get_indexer(f["uscc"])
            key = firm_part[pos]
            if (missing := pos < 0).any():
                key[missing] = part_of(np.asarray(f["uscc"])[missing], parts)
            keyed[name] = (f, key)
    out: list[Part] = []
    for k in range(parts):
        mine = firm_part == k
        if not mine.any():
            continue
        part: Part = {"firms": firms[mine].reset_index(drop=True)}
        for name in frames:
            if name in keyed:
                frame, key = keyed[name]
                part[name] = frame[key == k].reset_index(drop=True)
            else:
                part[name] = None
        out.append(part)
    return out


def score_part(model: Any, part: Part, as_of: date, **kwargs: Any) -> RegionScores:
    """:func:`score_region` of one part (its ``firms``, ``records`` and, where given, ``cells``
    and ``history``)."""
    return score_region(model, part["firms"], part["records"], as_of, cells=part.get("cells"),
                        history=part.get("history"), **kwargs)


def score_in_parts(model: Any, firms: pd.DataFrame, records: pd.DataFrame, as_of: date, parts: int,
                   *, cells: pd.DataFrame | None = None, history: pd.DataFrame | None = None,
                   map_parts: Callable[[list[Part]], list[RegionScores]] | None = None,
                   industry_column: str = "industry_division", **kwargs: Any) -> RegionScores:
    """Score the region in ``parts`` parts and merge them (see the module). ``records`` and
    ``cells`` must have their shared meters split already, as every loader gives them.
    ``map_parts`` scores a list of parts (with ``as_of`` and ``kwargs`` bound by the caller's
    own means, e.g. a Dask cluster); the default scores them here."""
    pieces = split_region(firms, parts, records=records, cells=cells, history=history)
    if map_parts is None:
        scored = [score_part(model, p, as_of, industry_column=industry_column, **kwargs) for p in pieces]
    else:
        scored = map_parts(pieces)
    return merge_scores(firms, scored, industry_column=industry_column)


def merge_scores(firms: pd.DataFrame, pieces: Sequence[RegionScores],
                 industry_column: str = "industry_division") -> RegionScores:
    """The parts' scores as one region's, in the order of ``firms``, with the industry
    percentiles and averages computed over the whole region."""
    if not pieces:
        raise ValueError("no part was scored: the region has no firms")
    index = pd.Index(np.concatenate([np.asarray(p.table.index, dtype=object) for p in pieces]), name="uscc")
    order = index.get_indexer(firms["uscc"])
    if (order < 0).any() or len(order) != len(index):
        raise ValueError("the parts do not hold the firms given, each once")
    batch = _merge_batches([p.batch for p in pieces], order)
    table = pd.concat([p.table for p in pieces]).iloc[order]
    features = pd.concat([p.features for p in pieces]).iloc[order]
    hits = None
    if pieces[0].overrides is not None:
        hits = pd.concat([p.overrides for p in pieces]).iloc[order]
    checked = None
    if pieces[0].authenticity is not None:
        checked = _merge_assessments([p.authenticity for p in pieces], order)
    shown = batch if hits is None else replace(batch, score=table["score"].to_numpy())
    industry = pd.Series(firms[industry_column].to_numpy(), index=batch.index)
    pct, avg = industry_comparison(shown, industry)
    table = table.copy()
    table["industry_percentile"] = pct
    return RegionScores(pieces[0].as_of, batch, table, avg, features, hits, checked)


# ScoreBatch fields with one entry per row: along the first axis, but ``sources_seen``
# (sources x rows) along the second.
_ROWS_LAST = {"sources_seen"}


def _merge_batches(batches: Sequence[ScoreBatch], order: np.ndarray) -> ScoreBatch:
    first = batches[0]
    values: dict[str, Any] = {}
    for f in fields(ScoreBatch):
        if not f.init:  # a cache the merged batch builds again
            continue
        name = f.name
        items = [getattr(b, name) for b in batches]
        if name == "index":
            values[name] = pd.Index(np.concatenate([np.asarray(i, dtype=object) for i in items]),
                                    name=first.index.name)[order]
        elif name == "values":
            values[name] = None if items[0] is None else pd.concat(items).iloc[order]
        elif isinstance(items[0], np.ndarray):
            axis = 1 if name in _ROWS_LAST else 0
            values[name] = np.take(np.concatenate(items, axis=axis), order, axis=axis)
        else:  # the model's own: the same in every part
            values[name] = getattr(first, name)
    return ScoreBatch(**values)


def _merge_assessments(parts: Sequence[Assessment], order: np.ndarray) -> Assessment:
    def rows(arrays: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)[order]

    checks = {}
    for name, first in parts[0].checks.items():
        results = [p.checks[name] for p in parts]
        checks[name] = CheckResult(
            flagged=rows([r.flagged for r in results]),
            plausibility=rows([r.plausibility for r in results]),
            figures={k: rows([r.figures[k] for r in results]) for k in first.figures})
    index = pd.Index(np.concatenate([np.asarray(p.index, dtype=object) for p in parts]),
                     name=parts[0].index.name)[order]
    return Assessment(
        index=index, checks=checks, departments=rows([p.departments for p in parts]),
        confidence=rows([p.confidence for p in parts]), plausibility=rows([p.plausibility for p in parts]),
        month_ends={k: rows([p.month_ends[k] for p in parts]) for k in parts[0].month_ends})
