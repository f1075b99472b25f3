"""Thematic analysis on the demo region (issue 14): groups, industry clusters and resource use.
A group's figures and a cluster's location quotient are recomputed from the stored rows with
plain code; no group under K firms besides one is published, and no withheld group follows
from a published total minus the groups shown; analysts and admins only; bad queries are a
400 naming the field."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from server.privacy import min_firms

pytestmark = pytest.mark.anyio


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _twelve_months_before(end: date) -> date:
    y, m = divmod(end.year * 12 + end.month - 1 - 12, 12)
    return _month_end(date(y, m + 1, 1))


async def _firms() -> list[dict]:
    from server.tables.firms import Firm

    return await Firm.select(Firm.id, Firm.uscc, Firm.industry_section, Firm.industry_division, Firm.town,
                             Firm.size_class)


async def test_a_towns_figures_recomputed_from_the_stored_rows(client, tokens, settings, demo):
    from server.tables.ingest import DeptRecord
    from server.tables.risk import Warning
    from server.tables.scores import ScoreHistory

    body = (await client.get("/api/reports/groups", params={"by": "town"}, headers=tokens["analyst"])).json()
    assert body["groups"], body
    town = max(body["groups"], key=lambda g: g["firms"])
    firms = [f for f in await _firms() if f["town"] == town["group"]]
    ids, usccs = {f["id"] for f in firms}, {f["uscc"] for f in firms}
    assert town["firms"] == len(firms)

    as_of = max(r["as_of"] for r in await ScoreHistory.select(ScoreHistory.as_of))
    latest: dict[int, dict] = {}
    for r in await ScoreHistory.select(ScoreHistory.firm, ScoreHistory.run, ScoreHistory.grade,
                                       ScoreHistory.score).where(ScoreHistory.as_of == as_of):
        if r["firm"] in ids and (r["firm"] not in latest or r["run"] > latest[r["firm"]]["run"]):
            latest[r["firm"]] = r
    grades = Counter(r["grade"] for r in latest.values())
    assert town["grades"] == {g: grades.get(g, 0) for g in "ABCD"}
    assert town["mean_score"] == pytest.approx(sum(r["score"] for r in latest.values()) / len(latest), abs=0.051)
    red = sum(1 for w in await Warning.select(Warning.firm, Warning.level, Warning.closed_at)
              if w["firm"] in ids and w["level"] == "red" and w["closed_at"] is None)
    assert town["warnings"]["red"] == red

    end = _month_end(as_of)
    start = _twelve_months_before(end)
    tax_fen = sum(r["amount_fen"] or 0 for r in await DeptRecord.select(
        DeptRecord.uscc, DeptRecord.amount_fen, DeptRecord.event_date, DeptRecord.superseded_at,
    ).where(DeptRecord.source == "tax_monthly")
        if r["uscc"] in usccs and r["superseded_at"] is None and start < r["event_date"] <= end)
    assert town["tax_yuan"] == pytest.approx(tax_fen / 100, abs=0.01)
    assert len(town["trend"]) == 24 and town["trend"][-1]["month"] == end.strftime("%Y-%m")
    assert sum(p["tax_yuan"] for p in town["trend"][-12:]) == pytest.approx(tax_fen / 100, abs=0.1)


@pytest.mark.parametrize(("params", "level"), [
    ({"by": "section"}, "industry_section"), ({"by": "town"}, "town"), ({"by": "size"}, "size_class"),
    ({"by": "division"}, "industry_division"), ({"by": "division", "section": "C"}, "industry_division"),
])
async def test_no_group_under_k_and_no_remainder_under_k(client, tokens, settings, demo, params, level):
    from server.tables.financing import LoanApplication

    need = min_firms(settings.min_group_size)
    firms = await _firms()
    if "section" in params:
        firms = [f for f in firms if f["industry_section"] == params["section"]]
    sizes = Counter(f[level] for f in firms)
    body = (await client.get("/api/reports/groups", params=params, headers=tokens["admin"])).json()
    shown = {g["group"]: g["firms"] for g in body["groups"]}
    assert all(n >= need for n in shown.values())
    assert all(sizes[g] == n for g, n in shown.items())  # the counts are the groups' own
    assert body["whole"]["firms"] == len(firms)
    remainder = len(firms) - sum(shown.values())
    assert remainder == 0 or remainder >= need, (remainder, need)
    assert body["suppressed"] == len(sizes) - len(shown)
    # a sum that fewer than K + 1 firms make up (a loan, the fund's cover) is withheld
    lent = {r["firm"] for r in await LoanApplication.select(LoanApplication.firm, LoanApplication.status)
            if r["status"] in ("approved", "disbursed", "repaid", "defaulted")}
    ids = {f["id"]: f[level] for f in firms}
    borrowers = Counter(ids[f] for f in lent if f in ids)
    for g in body["groups"]:
        if 0 < borrowers[g["group"]] < need:
            assert g["loan_amount_yuan"] is None, g
        elif borrowers[g["group"]] >= need:
            assert g["loan_amount_yuan"] > 0
    if params == {"by": "division"}:
        assert any(n < need for n in sizes.values()), sizes  # the demo has small divisions: withheld
        assert body["suppressed"] > 0


async def test_cluster_quotients_and_the_industry_by_town_table(client, tokens, settings, demo):
    need = min_firms(settings.min_group_size)
    firms = await _firms()
    cell = Counter((f["industry_division"], f["town"]) for f in firms)
    by_div, by_town = Counter(f["industry_division"] for f in firms), Counter(f["town"] for f in firms)
    body = (await client.get("/api/reports/clusters", params={"min_lq": 1.2}, headers=tokens["analyst"])).json()
    assert body["cells"], body
    for c in body["cells"]:
        key = (c["division"], c["town"])
        lq = (cell[key] / by_town[c["town"]]) / (by_div[c["division"]] / len(firms))
        assert c["lq_firms"] == pytest.approx(lq, abs=5e-4) and c["lq_firms"] >= 1.2
        assert c["figures"]["firms"] == cell[key] >= need
    # every cell that may be shown (any LQ): no division's or town's total minus its cells shown
    # leaves a group of fewer than K firms besides one
    everything = (await client.get("/api/reports/clusters", params={"min_lq": 1e-6},
                                   headers=tokens["analyst"])).json()
    shown = {(c["division"], c["town"]): c["figures"]["firms"] for c in everything["cells"]}
    assert everything["suppressed"] == len(cell) - len(shown) > 0
    for axis, totals in ((0, by_div), (1, by_town)):
        for line, total in totals.items():
            if total < need:
                continue
            rest = total - sum(n for k, n in shown.items() if k[axis] == line)
            assert rest == 0 or rest >= need, (line, rest)
    one = everything["cells"][0]
    narrowed = (await client.get("/api/reports/clusters", params={"min_lq": 1e-6, "town": one["town"]},
                                 headers=tokens["analyst"])).json()
    assert {c["town"] for c in narrowed["cells"]} == {one["town"]}
    in_town = [k for k in cell if k[1] == one["town"]]
    assert narrowed["suppressed"] == len(in_town) - len(narrowed["cells"])  # the town's own cells withheld


async def test_resource_intensity_by_town_and_outliers_are_groups(client, tokens, settings, demo):
    from server.tables.ingest import DeptRecord

    body = (await client.get("/api/reports/resources", params={"by": "town"}, headers=tokens["analyst"])).json()
    assert body["rows"] and body["end"]
    end = _month_end(date.fromisoformat(body["end"] + "-01"))
    start = _twelve_months_before(end)
    row = max(body["rows"], key=lambda r: r["firms"])
    usccs = {f["uscc"] for f in await _firms() if f["town"] == row["group"]}
    use: dict[str, float] = defaultdict(float)
    tax = 0
    for r in await DeptRecord.select(DeptRecord.uscc, DeptRecord.source, DeptRecord.category, DeptRecord.quantity,
                                     DeptRecord.amount_fen, DeptRecord.event_date, DeptRecord.superseded_at
                                     ).where(DeptRecord.source.is_in(["utility", "tax_monthly"])):
        if r["uscc"] in usccs and r["superseded_at"] is None and start < r["event_date"] <= end:
            if r["source"] == "utility":
                use[r["category"]] += r["quantity"] or 0
            else:
                tax += r["amount_fen"] or 0
    assert row["use"]["electricity"] == pytest.approx(use["electricity"], rel=1e-6)
    assert row["intensity"]["electricity_per_10k_tax"] == pytest.approx(
        use["electricity"] / (tax / 100 / 10_000), rel=1e-4)
    towns = {f["town"] for f in await _firms()}
    for r in body["rows"]:
        assert r["firms"] >= min_firms(settings.min_group_size) and r["group"] in towns
        assert set(r["outliers"]) <= set(r["intensity"])


@pytest.mark.parametrize("path", ["/api/reports/groups", "/api/reports/clusters", "/api/reports/resources"])
async def test_analysts_and_admins_only(client, tokens, path):
    for role, headers in tokens.items():
        r = await client.get(path, headers=headers)
        assert r.status_code == (200 if role in ("analyst", "admin") else 403), (role, r.text)
    assert (await client.get(path)).status_code == 401


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/reports/groups", {"by": "planet"}, "by"),
    ("/api/reports/groups", {"by": "town", "section": "C"}, "section"),
    ("/api/reports/groups", {"by": "division", "section": "Z"}, "section"),
    ("/api/reports/clusters", {"min_lq": "-1"}, "min_lq"),
    ("/api/reports/clusters", {"min_lq": "nan"}, "min_lq"),
    ("/api/reports/clusters", {"town": "no such town"}, "town"),
    ("/api/reports/resources", {"by": "size"}, "by"),
])
async def test_bad_query_is_a_400_naming_the_field(client, tokens, path, params, field):
    r = await client.get(path, params=params, headers=tokens["analyst"])
    assert r.status_code == 400 and field in r.text, r.text
