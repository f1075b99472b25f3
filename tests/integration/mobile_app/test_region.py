"""The analyst's screens in the app (issue 14): their states against the real API in-process,
and the screens built from those states."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from mobile_app.i18n import Translator
from mobile_app.state.region import IndexState, change
from mobile_app.views import region
from tests.integration.mobile_app.conftest import Api
from tests.integration.mobile_app.test_views import Runner
from tests.unit.mobile_app.controls import find, keys, texts

pytestmark = pytest.mark.anyio
ZH, EN = Translator("zh"), Translator("en")


@pytest.fixture
def run() -> Any:
    runner = Runner()
    yield runner
    runner.close()


async def test_the_analyst_reads_the_index_and_drills_into_an_industry_and_a_town(api: Api, run: Runner) -> None:
    client = await api.signed_in("analyst")
    state = IndexState(client=client)
    await state.load()
    assert state.status == "ready", state.error
    assert state.region is not None and state.region_series is not None
    region_line = state.region_series
    assert region_line.points and region_line.points[0].index == pytest.approx(100.0)
    view = region.build_index(state, ZH, run)
    assert {"screen.index", "index.region", "index.chart", "index.latest", "index.groups"} <= keys(view)
    assert find(view, "index.latest").value == f"{region_line.points[-1].index:.1f}"

    ranked = state.ranked()  # industries, highest latest index first
    assert ranked and all(a.points[-1].index >= b.points[-1].index for a, b in itertools.pairwise(ranked))
    industry = ranked[0].group
    state.open(industry)
    view = region.build_index(state, ZH, run)
    assert {"index.group", "index.group.chart", f"index.row.{industry}"} <= keys(view)
    assert ZH(f"industry.{industry}") in texts(find(view, "index.group"))

    await state.pick_dimension("town")
    assert state.by == "town" and state.group is None and state.status == "ready"
    town = state.ranked()[0]
    state.open(town.group)
    view = region.build_index(state, EN, run)
    assert town.group in texts(find(view, "index.group"))
    # the screen draws what the API published, and no group the API withheld
    published = {s.group for s in state.groups.series if s.points} if state.groups else set()
    assert {k.removeprefix("index.row.") for k in keys(view) if k.startswith("index.row.")} == published

    state.open("no such town")  # a group the API did not publish cannot be opened
    assert state.group is None


async def test_twelve_month_change_needs_an_unbroken_chain() -> None:
    from mobile_app.api.region import CreditIndexPoint, CreditIndexSeries

    points = [CreditIndexPoint(month=f"2025-{m:02d}", index=100 + m, firms=9) for m in range(1, 13)]
    points.append(CreditIndexPoint(month="2026-01", index=120.0, firms=9))
    series = CreditIndexSeries(group="x", firms_last=9, points=points)
    assert change(series) == pytest.approx(120.0 - 101.0)
    points[5].restart = True
    assert change(series) is None
    assert change(CreditIndexSeries(group="x", firms_last=9, points=points[:12])) is None


async def test_the_analyst_reads_the_thematic_lenses_and_drills_into_an_industry(api: Api, run: Runner) -> None:
    from mobile_app.state.region import ThematicState
    from mobile_app.views import thematic

    client = await api.signed_in("analyst")
    state = ThematicState(client=client)
    await state.load()
    assert state.status == "ready" and state.groups is not None and state.groups.whole is not None, state.error
    assert state.groups.whole.firms == 150  # the package's demo region
    view = thematic.build_thematic(state, ZH, run)
    assert {"screen.thematic.groups", "thematic.whole", "thematic.whole.mix", "thematic.whole.trend",
            "thematic.groups.chart"} <= keys(view)
    industry = max(state.groups.groups, key=lambda g: g.firms).group
    assert f"thematic.row.{industry}" in keys(view)

    await state.drill(industry)  # region -> industry: its divisions and its cells by town
    assert state.section == industry and state.groups is not None and state.groups.by == "division"
    assert state.groups.whole is not None and state.cells is not None
    view = thematic.build_thematic(state, ZH, run)
    assert ZH(f"industry.{industry}") in texts(find(view, "thematic.drill"))
    assert {"thematic.cells", "thematic.whole"} <= keys(view)

    await state.pick_dimension("town")  # the towns of the region; one opened
    assert state.section is None and state.groups is not None and state.groups.by == "town"
    town = state.groups.groups[0]
    state.open(town.group)
    view = thematic.build_thematic(state, EN, run)
    assert town.group in texts(find(view, "thematic.opened"))

    await state.pick_lens("clusters")
    assert state.clusters is not None and all(c.lq_firms >= state.clusters.min_lq for c in state.clusters.cells)
    assert "thematic.clusters" in keys(thematic.build_thematic(state, ZH, run))
    await state.pick_lens("resources")
    assert state.resources is not None and state.resources.rows
    view = thematic.build_thematic(state, ZH, run)
    assert {"thematic.resources", "thematic.resources.chart", "thematic.res.row.0"} <= keys(view)
    await state.pick_dimension("town")
    assert state.resources is not None and state.resources.by == "town"


async def test_the_fund_flow_and_guarantee_chain_lenses(api: Api, run: Runner) -> None:
    from mobile_app.state.region import ThematicState
    from mobile_app.views import thematic

    state = ThematicState(client=await api.signed_in("analyst"))
    await state.pick_lens("chains")
    assert state.status == "ready" and state.chains is not None, state.error
    view = thematic.build_thematic(state, ZH, run)
    assert "thematic.chains" in keys(view)
    if state.chains.region is not None:
        assert {"thematic.chains.circles", "thematic.chains.draw"} <= keys(view)
    await state.pick_dimension("section")
    assert state.chains is not None and state.chains.by == "section"
    await state.pick_lens("flows")
    assert state.flows is not None and state.flows.by == "grade"
    view = thematic.build_thematic(state, EN, run)
    assert "thematic.flows" in keys(view)
    # the demo's supported projects make the region's flows (issue 15): their money and state
    assert state.flows.region is not None and sum(state.flows.region.projects.values()) >= 6
    assert {"thematic.flows.projects", "thematic.flows.policies"} <= keys(view)
    assert any("on track" in s and "behind" in s for s in texts(view))
    await state.pick_dimension("town")
    assert state.flows is not None and state.flows.by == "town"
