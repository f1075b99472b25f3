"""A warning scan in two passes (issue 16: the scan reads the feature store) finds exactly what
one pass over every record finds.

First pass: every rule over the feature store's cells and the other kinds' rows (no row of the
monthly feeds). Second pass: the firms that a rule reading the monthly feeds' rows found, with
all their records. The test holds it on a synthetic county with a month of each feed reported
in parts (cells of several rows), values missing, shared meters split, record ids cited, a score
history for the rating rules; at a month end, between month ends and a year back; rule by rule
(the first pass finds every firm the rule finds) and for the merged findings (equal, evidence
and start dates included)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.feature_store import CELL_ONLY_KINDS, STORE_KINDS, cells_of, split_cells
from scoring.risk import RULES
from scoring.risk.context import Context
from scoring.risk.engine import evaluate, merge_passes, scan_passes


@pytest.fixture(scope="module")
def county() -> dict[str, object]:
    from scoring.authenticity import split_shared_meters
    from server.demo.synth import generate_region

    region = generate_region(1500, seed=13)
    raw = region.records
    rng = np.random.default_rng(2)
    # a fifth of the monthly rows reported again in a second part, some values missing
    monthly = raw[raw["kind"].isin(STORE_KINDS)]
    parts = monthly[rng.random(len(monthly)) < 0.2].copy()
    parts["event_date"] = parts["event_date"] - pd.to_timedelta(rng.integers(0, 20, len(parts)), unit="D")
    parts["amount_fen"] = pd.array(np.where(rng.random(len(parts)) < 0.3, 0, rng.integers(0, 10**6, len(parts))),
                                   dtype="Int64")
    parts["quantity"] = np.where(rng.random(len(parts)) < 0.2, np.nan, rng.integers(0, 500, len(parts)))
    raw = pd.concat([raw, parts], ignore_index=True)
    raw["quantity"] = np.round(raw["quantity"])  # whole numbers: sums exact in any order
    records = split_shared_meters(raw)
    records["record_id"] = np.arange(len(records), dtype=np.int64) + 1
    cells = split_cells(cells_of(raw))
    h = region.health[:, -6:]
    score = np.clip(600 + 120 * h, 0, 1000)
    cuts = np.quantile(score[:, -1], [0.09, 0.48, 0.86])
    n = len(region.firms)
    scores = pd.DataFrame({"uscc": np.repeat(region.firms["uscc"].to_numpy(), 6),
                           "as_of": np.tile(region.months[-6:], n), "score": score.ravel(),
                           "grade": np.array(list("DCBA"))[np.searchsorted(cuts, score)].ravel()})
    return {"region": region, "records": records, "cells": cells, "scores": scores}


def _as_of(county: dict[str, object], when: str) -> pd.Timestamp:
    end = pd.Timestamp(county["region"].end) + pd.offsets.MonthEnd(0)
    return {"end": end, "mid": end - pd.DateOffset(days=40), "year": end - pd.offsets.MonthEnd(12)}[when]


@pytest.mark.parametrize("when", ["end", "mid", "year"])
def test_which_months_have_records_reads_the_same_from_the_cells(county, when) -> None:
    records, cells = county["records"], county["cells"]
    index = pd.Index(county["region"].firms["uscc"].astype(str).unique(), name="uscc")
    as_of = _as_of(county, when)
    from_rows = Context(records, as_of, index)
    from_cells = Context(records[~records["kind"].isin(CELL_ONLY_KINDS)], as_of, index, cells=cells)
    from scoring.records import RECORD_KINDS

    compared = 0
    for kind in STORE_KINDS:
        for category in (None, *RECORD_KINDS[kind].categories):
            want = from_rows.has_month(kind, category)
            np.testing.assert_array_equal(from_cells.has_month(kind, category), want, err_msg=f"{kind} {category}")
            compared += int(want.sum())
    assert compared > 100_000 and not from_cells.touched  # nothing read rows of the store's kinds


@pytest.mark.parametrize("when", ["end", "mid", "year"])
def test_two_passes_find_what_one_pass_over_every_record_finds(county, when) -> None:
    region, records, cells, scores = county["region"], county["records"], county["cells"], county["scores"]
    as_of = _as_of(county, when)
    firms = region.firms
    want = evaluate(records, firms, as_of, scores=scores)
    rest = records[~records["kind"].isin(CELL_ONLY_KINDS)].reset_index(drop=True)
    read_rows: set[str] = set()
    first = evaluate(rest, firms, as_of, scores=scores, cells=cells, read_rows=read_rows)
    # rule by rule, the first pass finds every firm one pass finds (evidence apart)
    for code in RULES:
        hit_once = {f.uscc for f in want if f.rule_code == code}
        hit_first = {f.uscc for f in first if f.rule_code == code}
        assert hit_once <= hit_first, (code, sorted(hit_once - hit_first)[:5])
        if code not in read_rows:  # a rule that read no monthly rows: already exact
            assert [f for f in first if f.rule_code == code] == [f for f in want if f.rule_code == code], code
    again = scan_passes(first, read_rows)
    mine = records[records["uscc"].isin(again)].reset_index(drop=True)
    second = evaluate(mine, firms, as_of, firms_subset=again, scores=scores)
    got = merge_passes(first, second, again, firms["uscc"].astype(str).unique())
    assert got == want
    # the monthly rules fire, the first pass selects no firm they do not find, and the second
    # pass reads only some of the firms (here many: three in ten of the parts above report an amount of 0)
    monthly_hits = {f.uscc for f in want if f.rule_code in read_rows}
    assert len(monthly_hits) >= 20 and set(again) == monthly_hits and len(again) < 0.8 * len(firms)
