"""A tiny scored region for the data-exposure attacks (issue 10, points 1 and 2): a few firms
written straight to the database, a scoring run with the industry statistics the pipeline
stores, no model (training one takes tens of seconds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

DIMENSIONS = ("capacity", "stability", "growth", "compliance", "credit", "integrity")


@dataclass(frozen=True, slots=True)
class Region:
    usccs: list[str]
    scores: dict[str, int]
    as_of: date


def uscc(serial: int) -> str:
    from server.uscc import check_character

    body = f"91331004MA2Q{serial:05d}"
    return body + check_character(body)


async def build(firms: list[tuple[str, str, str, int]], *, serial0: int = 0) -> Region:
    """Firms as (section, division, town, score), each scored once in one full run whose
    industry statistics come from the pipeline's own function."""
    from server.scores.pipeline import industry_stats
    from server.tables.firms import Firm
    from server.tables.scores import ScoreHistory, ScoringRun

    now = datetime.now(UTC)
    as_of = (now - timedelta(days=1)).date()
    codes = [uscc(serial0 + i) for i in range(len(firms))]
    ids = []
    for code, (section, division, town, _score) in zip(codes, firms, strict=True):
        firm = Firm(uscc=code, name=f"小组测试企业{code[-6:]}有限公司", industry_section=section,
                    industry_division=division, town=town, registered_capital_fen=100_000_000,
                    founded_on=date(2015, 1, 1), size_class="small", created_at=now, updated_at=now)
        await firm.save()
        ids.append(firm.id)
    scores = [f[3] for f in firms]
    table = pd.DataFrame({"score": scores, **{f"dim_{d}": [s / 10 for s in scores] for d in DIMENSIONS}})
    frame = pd.DataFrame({"industry_section": [f[0] for f in firms],
                          "industry_division": [f[1] for f in firms]})
    run = ScoringRun(model_version="test-model", as_of=as_of, started_at=now, finished_at=now,
                     firms=len(firms), reason="full", industry_stats=industry_stats(table, frame))
    await run.save()
    await ScoreHistory.insert(*[ScoreHistory(
        firm=fid, run=run.id, as_of=as_of, score=s, grade="A" if s >= 650 else "C",
        pd=round(1 - s / 1000, 3), dimensions=json.dumps({d: s / 10 for d in DIMENSIONS}),
        reasons=json.dumps([]), model_version="test-model", created_at=now,
    ) for fid, s in zip(ids, scores, strict=True)])
    return Region(codes, dict(zip(codes, scores, strict=True)), as_of)
