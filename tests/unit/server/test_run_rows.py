"""``server.scores.run_rows.run_texts``: every firm's stored texts of a region's run, built for
all firms at once, say what one firm's would say built on its own from the public pieces
(``reasons_for``, ``override_reasons``, ``Assessment.of``, ``ScoreBatch.missing_sources``)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoring import indicator_scorecard
from scoring.explain import reasons_for
from scoring.overrides import OverrideRuleSet, override_reasons
from scoring.pipeline import RegionScores, region_dataset, score_region
from scoring.scorecard import confidence_level_of

LEVELS = ("low", "medium", "high")


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and not np.isfinite(x) else x


def one_firm(result: RegionScores, row: int) -> tuple[dict, list, dict]:
    """What a firm's row stores, built for that firm alone (the way a reader of the
    catalogue would state it)."""
    table, batch, hits = result.table, result.batch, result.overrides
    dims = {c[4:]: round(float(table[c].iat[row]), 1) for c in table.columns if c.startswith("dim_")}
    found = []
    if hits is not None and bool(hits["overridden"].iat[row]):
        found = override_reasons(hits, row, int(table["override_points"].iat[row]))
    reasons = [{"code": r.code, "text_zh": r.text_zh, "text_en": r.text_en, "tip_zh": r.improve_zh,
                "tip_en": r.improve_en, "points": float(r.points), "dimension": r.dimension,
                "value": _plain(r.value)} for r in [*found, *reasons_for(batch, row)]]
    share = float(batch.data_confidence[row])
    level = confidence_level_of(share)
    confidence = {"share": round(share, 3), "level": level, "coverage_level": level,
                  "sources": len(batch.source_names), "missing": batch.missing_sources(row)}
    if result.authenticity is not None:
        checked = result.authenticity.of(str(table.index[row]))
        confidence["level"] = min(level, checked["confidence"], key=LEVELS.index)
        confidence["authenticity"] = checked
    return dims, reasons, confidence


@pytest.fixture(scope="module")
def region() -> RegionScores:
    from server.demo.synth import generate_region

    r = generate_region(300, seed=11)
    end = pd.Timestamp(r.end)
    X, y = region_dataset(r.firms, r.records, (end - pd.DateOffset(months=12)).date(), population="all")
    model = indicator_scorecard(n_bags=1, max_iter=40, random_state=0).fit(X, y)
    return score_region(model, r.firms, r.records, r.end, overrides=OverrideRuleSet.default(), status_known_on=r.end)


def test_every_firm_says_what_it_says_alone(region: RegionScores) -> None:
    from server.scores.run_rows import run_texts

    dimensions, reasons, confidence = run_texts(region)
    n = len(region.table)
    assert len(dimensions) == len(reasons) == len(confidence) == n
    for row in range(n):
        dims, why, sure = one_firm(region, row)
        assert json.loads(dimensions[row]) == dims, row
        assert json.loads(reasons[row]) == why, row
        assert json.loads(confidence[row]) == sure, row
    # the region has every kind of row the bulk path treats apart, so none is compared vacuously
    stored = [json.loads(t) for t in reasons]
    assert any(r["code"].startswith("override:") for rs in stored for r in rs)
    assert any(r["value"] is None for rs in stored for r in rs)  # a "no data" reason
    checked = [json.loads(t)["authenticity"] for t in confidence]
    assert any(c["findings"] for c in checked) and any(not c["findings"] for c in checked)
    assert len({tuple(json.loads(t)["missing"]) for t in confidence}) > 1


def test_doubted_indicators_are_named_as_alone(region: RegionScores) -> None:
    """Firms whose values another source put in doubt: named among the reasons, the same way."""
    from server.scores.run_rows import run_texts

    batch = region.batch
    suspect = np.zeros((len(batch), len(batch.features)), dtype=np.int8)
    suspect[::7, 3] = 1  # the first check puts one indicator in doubt for every seventh firm
    suspect[::11, 5] = 2
    doubted = replace(region, batch=replace(batch, suspect=suspect))
    _, reasons, _ = run_texts(doubted)
    for row in range(0, len(batch), 7):
        assert json.loads(reasons[row]) == one_firm(doubted, row)[1], row
    assert any("存疑" in r["text_zh"] for r in json.loads(reasons[0]))


def test_each_firm_keeps_its_own_share_and_silent_sources(region: RegionScores) -> None:
    """The coverage share and the silent sources varied apart from each other and from the
    assessment (firms alike in all but one of them): each firm's data confidence is still its
    own, built alone."""
    from server.scores.run_rows import run_texts

    batch = region.batch
    rng = np.random.default_rng(5)
    n = len(batch)
    shares = rng.choice([0.25, 0.5, 0.75, 1.0], size=n)
    seen = rng.random(np.asarray(batch.sources_seen).shape) < 0.6
    varied = replace(region, batch=replace(batch, data_confidence=shares, sources_seen=seen))
    _, _, confidence = run_texts(varied)
    stored = [json.loads(t) for t in confidence]
    for row in range(n):
        assert stored[row] == one_firm(varied, row)[2], row
    # firms alike in their assessment and silent sources but not in share, and alike in share
    # and assessment but not in silent sources: so neither is compared vacuously
    alike: dict[str, set[tuple[float, tuple[str, ...]]]] = {}
    for c in stored:
        alike.setdefault(json.dumps(c["authenticity"], sort_keys=True), set()).add((c["share"], tuple(c["missing"])))
    pairs = [v for v in alike.values() if len(v) > 1]
    assert any(len({s for s, _ in v}) > 1 and len({m for _, m in v}) > 1 for v in pairs)
