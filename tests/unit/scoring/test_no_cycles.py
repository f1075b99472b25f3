"""Scoring a region leaves no reference cycle: its known-records views, grids and frames are
freed as soon as the result is, not when the cyclic collector next runs (a county's known
records are gigabytes, and a run that waited for the collector held them past its end)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pandas as pd
import pytest

from scoring import indicator_scorecard
from scoring.feature_store import CELL_ONLY_KINDS, cells_of, split_cells
from scoring.overrides import OverrideRuleSet
from scoring.pipeline import region_dataset, score_region


@pytest.fixture(scope="module")
def region() -> Iterator[tuple]:
    from server.demo.synth import generate_region

    r = generate_region(200, seed=5)
    end = pd.Timestamp(r.end)
    X, y = region_dataset(r.firms, r.records, (end - pd.DateOffset(months=12)).date(), population="all")
    model = indicator_scorecard(n_bags=1, max_iter=30, random_state=0).fit(X, y)
    yield r, model


def _cycles_left(score) -> list[str]:
    """The objects of scoring, pandas and numpy that only the cyclic collector would free after
    ``score()`` and the result are gone."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        result = score()
        assert len(result.table)
        del result
        gc.collect()
        return sorted({f"{type(o).__module__}.{type(o).__name__}" for o in gc.garbage
                       if type(o).__module__.split(".")[0] in ("scoring", "pandas", "numpy")})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_scoring_from_the_records_leaves_no_cycle(region: tuple) -> None:
    r, model = region
    left = _cycles_left(lambda: score_region(model, r.firms, r.records, r.end,
                                             overrides=OverrideRuleSet.default(), status_known_on=r.end))
    assert left == []


def test_scoring_from_the_cells_leaves_no_cycle(region: tuple) -> None:
    r, model = region
    cells = split_cells(cells_of(r.records))
    rows = r.records[~r.records["kind"].isin(CELL_ONLY_KINDS)].reset_index(drop=True)
    left = _cycles_left(lambda: score_region(model, r.firms, rows, r.end, cells=cells,
                                             overrides=OverrideRuleSet.default(), status_known_on=r.end))
    assert left == []
