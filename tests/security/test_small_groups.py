"""Issue 10, point 1: statistics about small groups leak exact figures.

In an industry of two firms, an owner read its industry's mean score in its evaluation and
computed the competitor's exact score (2 x mean - own); the macro index, open to any
subscriber, gave a two-firm group's mean PD the same way. Every published group must hold at
least K firms besides the reader, or fall back to a wider group that does.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import login, make_user
from tests.security import _small_region

pytestmark = pytest.mark.anyio

# Two firms alone in section A (division 01) and in their town; bigger sections C and F.
FIRMS = ([("A", "01", "小岙村", 700), ("A", "01", "小岙村", 580)]
         + [("C", "13" if i % 2 else "14", "百官街道", 500 + 5 * i) for i in range(16)]
         + [("F", "51", "曹娥街道", 610 + 3 * i) for i in range(8)])


@pytest.fixture(scope="module")
async def region(client) -> _small_region.Region:
    return await _small_region.build(FIRMS, serial0=100)


async def test_an_owner_cannot_compute_its_only_competitors_score(client, settings, region):
    own, rival = region.usccs[0], region.usccs[1]
    await make_user("13900001001", "owner", firm_uscc=own)
    ev = await client.get(f"/api/firms/{own}/evaluation", headers=await login(client, "13900001001"))
    assert ev.status_code == 200, ev.text
    body = ev.json()
    ind = body["industry"]
    k = settings.min_group_size
    assert ind is not None, "the region is large enough to compare with"
    # The attack: with two firms in the group, 2 x mean - own is the rival's exact score.
    assert ind["firms"] - 1 >= k, f"a group of {ind['firms']} firms was published (K={k})"
    assert round(2 * ind["mean_score"] - body["score"]) != region.scores[rival]
    assert ind["level"] == "region" and ind["code"] == "all" and ind["firms"] == len(FIRMS)
    for dim, mean in ind["dimensions"].items():  # the radar's means leak the same way
        assert round(2 * mean - body["dimensions"][dim], 1) != region.scores[rival] / 10


async def test_the_macro_index_publishes_no_group_under_k(client, settings, engine, region):
    from server.risk.macro import compute_macro_index

    await compute_macro_index(engine)
    await make_user("13900001002", "subscriber")
    headers = await login(client, "13900001002")
    k = settings.min_group_size
    for by in ("industry", "town"):
        r = await client.get("/api/risk/macro", params={"by": by}, headers=headers)
        assert r.status_code == 200, r.text
        macro = r.json()
        assert macro["region"] is not None and macro["region"]["firms"] == len(FIRMS)
        # The two-firm section and town are pooled with the next smallest group into "other".
        assert {g["group"] for g in macro["groups"]} == {"C" if by == "industry" else "百官街道", "other"}
        for g in macro["groups"]:
            # At least K firms besides any one reader (a firm's owner may read it too).
            assert g["graded"] - 1 >= k and g["firms"] - 1 >= k, (by, g)
        # Differencing: the region minus the published groups must not be a small group.
        rest = macro["region"]["firms"] - sum(g["firms"] for g in macro["groups"])
        assert rest == 0 or rest - 1 >= k, (by, rest)
