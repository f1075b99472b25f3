"""The monthly credit index route on the demo region (issue 14, must-show 2): the regional
index of a month recomputed from the raw stored rows with plain code matches the route to 1e-9;
no group under K is published; admins only; bad query values are a 400 naming the field."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.privacy import min_firms

pytestmark = pytest.mark.anyio

URL = "/api/reports/credit-index"
WEIGHTS = {"score": 0.4, "grade_ab": 0.2, "no_warning": 0.2, "no_default": 0.2}


async def _raw_panel() -> dict[date, dict[int, dict[str, float]]]:
    """month end -> firm -> its four component values, straight from the stored rows."""
    from server.tables.ingest import DeptRecord
    from server.tables.risk import Warning
    from server.tables.scores import ScoreHistory

    latest: dict[tuple[int, date], dict] = {}
    for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.firm.uscc.as_alias("uscc"),
                                       ScoreHistory.run, ScoreHistory.as_of, ScoreHistory.score,
                                       ScoreHistory.grade):
        if (r["as_of"] + timedelta(days=1)).day != 1:
            continue  # not a month end
        key = (r["firm"], r["as_of"])
        if key not in latest or r["run"] > latest[key]["run"]:
            latest[key] = r
    first_default: dict[str, date] = {}
    for r in await DeptRecord.select(DeptRecord.uscc, DeptRecord.event_date, DeptRecord.days,
                                     DeptRecord.source, DeptRecord.superseded_at):
        if r["source"] == "bank_loan" and (r["days"] or 0) >= 90 and r["superseded_at"] is None:
            d = r["event_date"]
            first_default[r["uscc"]] = min(d, first_default.get(r["uscc"], d))
    warnings = defaultdict(list)
    for r in await Warning.select(Warning.firm, Warning.level, Warning.opened_at, Warning.closed_at):
        if r["level"] in ("red", "yellow"):
            warnings[r["firm"]].append((r["opened_at"], r["closed_at"]))
    panel: dict[date, dict[int, dict[str, float]]] = defaultdict(dict)
    shanghai = ZoneInfo("Asia/Shanghai")
    for (firm, month_end), r in latest.items():
        end = datetime.combine(month_end + timedelta(days=1), time.min, shanghai)
        warned = any(o < end and (c is None or c >= end) for o, c in warnings[firm])
        d = first_default.get(r["uscc"])
        defaulted = d is not None and month_end.replace(day=1) <= d <= month_end
        panel[month_end][firm] = {"score": float(r["score"]),
                                  "grade_ab": 1.0 if r["grade"] in ("A", "B") else 0.0,
                                  "no_warning": 0.0 if warned else 1.0,
                                  "no_default": 0.0 if defaulted else 1.0}
    return panel


def _mean(panel_month: dict[int, dict[str, float]], firms: set[int], c: str) -> float:
    return sum(panel_month[f][c] for f in firms) / len(firms)


async def _backdated_warnings(months: list[date]) -> None:
    """The demo raises its warnings as it starts (after every month end of its history): add a
    few opened and closed in the past, so the warning component moves in the history."""
    from server.tables.firms import Firm
    from server.tables.risk import Warning

    shanghai = ZoneInfo("Asia/Shanghai")
    ids = [r["id"] for r in await Firm.select(Firm.id).order_by(Firm.id).limit(6)]
    at = [datetime.combine(m, time(12), shanghai) for m in months]
    rows = [  # (firm, level, opened, closed)
        (ids[0], "red", at[1], None),                         # open since month 1
        (ids[1], "yellow", at[0], at[3]),                     # closed on month 3's last day
        (ids[2], "yellow", at[2], datetime.combine(months[4] + timedelta(days=1), time.min,
                                                   shanghai)),  # closed as month 4 ends
        (ids[3], "blue", at[0], None),                        # blue: not counted
        (ids[4], "red", at[3] - timedelta(days=40), at[3] - timedelta(days=20)),
    ]
    for firm, level, opened, closed in rows:
        await Warning.insert(Warning(firm=firm, rule_code="TEST", level=level, evidence={},
                                     opened_at=opened, updated_at=opened, closed_at=closed))


async def test_regional_index_recomputed_from_raw_rows(client, tokens, settings, demo):
    await _backdated_warnings(sorted(await _raw_panel()))
    r = await client.get(URL, headers=tokens["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["by"] == "region" and body["k"] == settings.min_group_size
    (region,) = body["series"]
    assert region["group"] == "all"
    points = {p["month"]: p for p in region["points"]}

    panel = await _raw_panel()
    months = sorted(panel)
    assert len(months) >= 3, months
    assert body["base_month"] == months[0].strftime("%Y-%m")
    assert points[body["base_month"]]["index"] == 100.0
    # chain by hand from the base month to a month in the middle of the history
    target = months[len(months) // 2]
    level = 100.0
    for prev, cur in zip(months, months[1:], strict=False):
        if prev >= target:
            break
        matched = set(panel[prev]) & set(panel[cur])
        assert len(matched) >= min_firms(settings.min_group_size)
        link = sum(w * _mean(panel[cur], matched, c) / _mean(panel[prev], matched, c)
                   for c, w in WEIGHTS.items())
        level *= link
    got = points[target.strftime("%Y-%m")]
    assert any(points[m.strftime("%Y-%m")]["components"]["no_warning"] < 1 for m in months)
    assert got["index"] == pytest.approx(level, abs=1e-9, rel=0)
    assert got["firms"] == len(panel[target])
    for c in WEIGHTS:
        assert got["components"][c] == pytest.approx(
            _mean(panel[target], set(panel[target]), c), abs=1e-9, rel=0)
    # a window only cuts the answer: the month's value is the same
    one = (await client.get(URL, params={"from": target.strftime("%Y-%m"),
                                         "to": target.strftime("%Y-%m")},
                            headers=tokens["admin"])).json()
    assert [p["month"] for p in one["series"][0]["points"]] == [target.strftime("%Y-%m")]
    assert one["series"][0]["points"][0]["index"] == got["index"]
    assert one["series"][0]["firms_last"] == got["firms"]


async def test_the_index_is_recomputed_as_soon_as_the_data_changes(client, tokens, demo):
    """The index is kept between reads (it reads every month-end score), but a new warning, even
    one dated in the past, shows in the next read."""
    from server.tables.risk import Warning

    months = sorted(await _raw_panel())
    first = (await client.get(URL, headers=tokens["admin"])).json()
    assert (await client.get(URL, headers=tokens["admin"])).json() == first
    warned = {r["firm"] for r in await Warning.select(Warning.firm).where(Warning.level.is_in(["red", "yellow"]))}
    panel = await _raw_panel()
    calm = sorted(set(panel[months[-1]]) & set(panel[months[-2]]) - warned)[:5]
    opened = datetime.combine(months[-2], time(12), ZoneInfo("Asia/Shanghai"))
    for firm in calm:
        await Warning.insert(Warning(firm=firm, rule_code="TEST", level="red", evidence={},
                                     opened_at=opened, updated_at=opened, closed_at=None))
    second = (await client.get(URL, headers=tokens["admin"])).json()

    def no_warning(body: dict, month: date) -> float:
        return next(p for p in body["series"][0]["points"]
                    if p["month"] == month.strftime("%Y-%m"))["components"]["no_warning"]

    assert len(calm) == 5
    assert no_warning(second, months[-1]) == pytest.approx(no_warning(first, months[-1]) - 5 / len(panel[months[-1]]))


@pytest.mark.parametrize("by", ["section", "division", "town", "size"])
async def test_no_group_under_k_is_published(client, tokens, settings, demo, by):
    from server.tables.firms import Firm

    need = min_firms(settings.min_group_size)
    body = (await client.get(URL, params={"by": by}, headers=tokens["admin"])).json()
    assert body["min_firms"] == need and body["series"]
    for s in body["series"]:
        for p in s["points"]:
            assert p["firms"] >= need and (p["restart"] or p["matched"] >= need or
                                           p["month"] == body["base_month"])
    if by == "division":
        # the demo has divisions with fewer firms than K besides one: none of them is shown
        column = Firm.industry_division
        sizes: dict[str, int] = defaultdict(int)
        for r in await Firm.select(column.as_alias("code")):
            sizes[r["code"]] += 1
        small = {code for code, n in sizes.items() if n < need}
        assert small, sizes
        assert not small & {s["group"] for s in body["series"]}
        one = (await client.get(URL, params={"by": by, "group": sorted(small)[0]},
                                headers=tokens["admin"])).json()
        assert one["series"] == []


async def test_k_above_the_region_publishes_nothing(demo):
    from server.reports.services import credit_index_report
    from server.tables.firms import Firm

    n = await Firm.count()
    out = await credit_index_report("region", None, None, None, n)
    assert out.series == [] and out.min_firms == n + 1
    out = await credit_index_report("region", None, None, None, n - 1)
    assert [s.group for s in out.series] == ["all"]


async def test_analysts_and_admins_only(client, tokens):
    assert "analyst" in tokens
    for role, headers in tokens.items():
        r = await client.get(URL, headers=headers)
        assert r.status_code == (200 if role in ("analyst", "admin") else 403), (role, r.text)
    assert (await client.get(URL)).status_code == 401


@pytest.mark.parametrize(("params", "field"), [
    ({"by": "planet"}, "by"),
    ({"from": "2024-13"}, "from"),
    ({"from": "last year"}, "from"),
    ({"to": "2024-1"}, "to"),
    ({"from": "2025-03", "to": "2025-01"}, "to"),
    ({"group": "x" * 51}, "group"),
])
async def test_bad_query_is_a_400_naming_the_field(client, tokens, params, field):
    for lang in ("en", "zh-CN"):
        r = await client.get(URL, params=params, headers={**tokens["admin"], "accept-language": lang})
        assert r.status_code == 400, r.text
        assert r.json()["detail"].startswith(field), r.text
