"""Issue 16: the annual report's figures on a Dask cluster equal the figures made in process.

The test starts a real cluster of its own (a scheduler and two workers, separate processes over
TCP on 127.0.0.1). With ``dask`` given, ``gather`` cuts the firms by USCC hash and each worker
reads its part's firm-month panel from the database and sums it; this process only adds the
sums. Before comparing, the demo's red and yellow warnings are spread over the months (some
closed, one opened exactly at a month's end instant) and policies are granted to enough firms
that the recipients' grade moves are published, so every figure read from the panel counts
something. A worker killed while it sums a part, the other sums every part to the same figures."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.integration.dask_cluster import kill_while_running

pytestmark = pytest.mark.anyio

YEAR = datetime.now(UTC).year - 1


async def _spread_warnings() -> None:
    from server.risk.frames import LOCAL
    from server.tables.risk import Warning

    rng = random.Random(5)
    ids = [r["id"] for r in await Warning.select(Warning.id).where(Warning.level.is_in(["red", "yellow"]))
           .order_by(Warning.id)]
    assert len(ids) > 20
    for i, wid in enumerate(ids):
        opened = datetime(YEAR - 1, 11, 1, tzinfo=LOCAL) + timedelta(hours=rng.randrange(0, 24 * 420))
        if i % 10 == 0:  # opened at the very instant a month ends: not open at that month's end
            opened = datetime.combine(date(YEAR, 12, 1), time.min, LOCAL)
        closed = opened + timedelta(hours=rng.randrange(1, 24 * 120)) if i % 3 == 0 else None
        await Warning.update({Warning.opened_at: opened, Warning.closed_at: closed}).where(Warning.id == wid)


async def _grant_policies(firms: int) -> None:
    from server.tables.policies import Policy, PolicyApplication
    from server.tables.scores import ScoreHistory

    policy = (await Policy.select(Policy.id).first())["id"]
    scored = sorted({r["firm"] for r in await ScoreHistory.select(ScoreHistory.firm)
                     .where(ScoreHistory.as_of == date(YEAR, 12, 31))})
    at = datetime(YEAR, 6, 1, 10, 0, tzinfo=UTC)
    for i, firm in enumerate(scored[:firms]):
        await PolicyApplication.insert(PolicyApplication(
            policy=policy, firm=firm, status="approved" if i % 4 else "rejected",
            created_at=at))


async def test_the_annual_figures_on_dask_equal_the_figures_made_in_process(demo, engine, settings, dask_cluster,
                                                                           monkeypatch):
    from scoring.credit_index import credit_index
    from server.privacy import min_firms
    from server.reports.annual import figures, parts
    from server.reports.services import load_panel

    address, workers = dask_cluster
    k = settings.min_group_size
    await _spread_warnings()
    await _grant_policies(4 * min_firms(k) + 8)
    here = await figures.gather(YEAR, k)

    # what the panel's figures count: warnings open at month ends, published recipients' moves
    assert any(r.warned for r in here.sections) and here.policies["up"] is not None
    assert here.scored_end > 100 and here.migrated_firms > 100 and here.index_series
    # the region's index is the credit index of the whole panel, as the analysts' screen reads it
    panel, firm_attrs = await load_panel()
    _base, region = credit_index(panel, firm_attrs, by="region", min_firms=min_firms(k))
    assert here.index_series == [(p["month"].strftime("%Y-%m"), float(p["index"])) for p in region["all"]
                                 if p["month"].year <= YEAR]

    def not_here(*args, **kwargs):
        raise AssertionError("the submitting process read the region's panel")

    with monkeypatch.context() as m:
        m.setattr(figures, "region_sums", not_here)
        there = await figures.gather(YEAR, k, dask=address)
    # the same figures, every float to the last bit (repr: NaN, withheld months, equal to itself)
    assert repr(there) == repr(here)
    assert dataclasses.asdict(there).keys() == dataclasses.asdict(here).keys()

    # a worker dies (killed, as an out-of-memory kill would) while it sums a part: the scheduler
    # runs its task again on the other
    monkeypatch.setattr(parts, "PARTS_PER_WORKER", 30)  # many short parts: time to see one run
    again = await kill_while_running(address, workers[0], lambda: figures.gather(YEAR, k, dask=address))
    assert repr(again) == repr(here)


async def test_the_report_route_answers_503_while_the_cluster_has_no_worker(demo, settings, tokens, dask_cluster):
    # the annual report reaches the cluster from a route; a cluster that cannot take the work
    # is a 503 the analyst may retry, not a 500, and no report is kept
    from dataclasses import replace

    import httpx

    from server.app import create_app
    from server.tables.reports import AnnualReport
    from tests.integration.dask_cluster import kill_worker

    address, workers = dask_cluster
    kill_worker(workers[0], address, left=1)
    kill_worker(workers[1], address, left=0)
    app = create_app(replace(settings, dask_scheduler=address))
    async with app.lifespan():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"accept-language": "en"}) as c:
            r = await c.get(f"/api/reports/annual/{YEAR}", headers=tokens["analyst"])
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "30" and "cluster" in r.json()["detail"]
    assert not await AnnualReport.count()
