"""A firm's ties (``GET /api/firms/{uscc}/ties``), the guarantee circle picture, on a small
hand-made region whose amounts are known to the fen: one- and two-link partners, a shared
person, levels from open warnings only, the contagion path after a scan, and who may look.

The region (arrows: guarantor -> guaranteed, in force unless said otherwise)::

    A -> M  1,000,000.50 + 500,000.75   (two guarantees: A gives 1,500,001 yuan)
    M -> B    800,000.99                 (B is suspended: red, its distress reaches M)
    C -> M    300,000      M -> C  200,000   (both ways)
    A -> C    100,000                    (between two partners: an edge, no new firm)
    F -> A    400,000                    (F two links away: "chain")
    D -> M  expired 2021;  E -> M starts 2098   (neither shown)
    张三丰: legal representative of M, shareholder of H (no guarantee): H is a "person" firm
    李四:   shareholder of M and director of A (a partner): listed, A stays "guarantor"
    王五:   former supervisor of M (ended 2021), director of J: neither shown
    HUB <- 26 guarantors, 1..26 yuan x 10,000: the 24 largest shown, 2 hidden
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio

BANK = "ICBC-SY"
LETTERS = "MABCDEFHJ"
LEVELS = {"red", "yellow", "blue"}
FAR_PAST, FAR_FUTURE = date(2020, 1, 1), date(2099, 1, 1)


def _code(serial: int) -> str:
    from server.uscc import make_uscc

    return make_uscc(serial, division="331004")


@pytest.fixture(scope="module")
async def region(client) -> dict[str, str]:
    """The region above; letters (and ``HUB``, ``G1``..``G26``) -> USCC."""
    from server.tables.firms import Firm, FirmPerson, Guarantee, Person

    now = datetime.now(UTC)
    codes = {letter: _code(7100 + i) for i, letter in enumerate(LETTERS)}
    codes["HUB"] = _code(7200)
    codes |= {f"G{i}": _code(7200 + i) for i in range(1, 27)}
    ids = {}
    for key, code in codes.items():
        firm = Firm(uscc=code, name=f"纽带测试{key}有限公司", industry_section="C",
                    industry_division="34", town="百官街道", registered_capital_fen=100_000_000,
                    founded_on=date(2015, 1, 1), size_class="small",
                    status="suspended" if key == "B" else "active", created_at=now, updated_at=now)
        await firm.save()
        ids[key] = firm.id

    def guarantee(n: int, guarantor: str, guaranteed: str, fen: int, start: date = FAR_PAST,
                  end: date = FAR_FUTURE) -> Guarantee:
        return Guarantee(record_key=f"TIES-{n}", guarantor=ids[guarantor],
                         guaranteed=ids[guaranteed], amount_fen=fen, start_date=start, end_date=end)

    await Guarantee.insert(
        guarantee(1, "A", "M", 100_000_050), guarantee(2, "A", "M", 50_000_075),
        guarantee(3, "M", "B", 80_000_099),
        guarantee(4, "C", "M", 30_000_000), guarantee(5, "M", "C", 20_000_000),
        guarantee(6, "A", "C", 10_000_000),
        guarantee(7, "F", "A", 40_000_000),
        guarantee(8, "D", "M", 90_000_000, end=date(2021, 1, 1)),
        guarantee(9, "E", "M", 90_000_000, start=date(2098, 1, 1)),
        *[guarantee(100 + i, f"G{i}", "HUB", i * 1_000_000) for i in range(1, 27)],
    )
    people = {}
    for name in ("张三丰", "李四", "王五"):
        person = Person(id_hash=f"ties-secret-hash-{name}", name=name)
        await person.save()
        people[name] = person.id
    roles = [("张三丰", "M", "legal_rep", None), ("张三丰", "H", "shareholder", None),
             ("李四", "M", "shareholder", None), ("李四", "A", "director", None),
             ("王五", "M", "supervisor", date(2021, 1, 1)), ("王五", "J", "director", None)]
    await FirmPerson.insert(*[
        FirmPerson(record_key=f"TIES-P{n}", firm=ids[firm], person=people[name], role=role,
                   start_date=FAR_PAST, end_date=end)
        for n, (name, firm, role, end) in enumerate(roles)])
    return codes


@pytest.fixture(scope="module")
async def heads(client, region) -> dict[str, dict[str, str]]:
    """Authorization headers: the owners of M and A, a bank manager, the other roles."""
    accounts = {
        "owner": ("13900070001", "owner", {"firm_uscc": region["M"]}),
        "other_owner": ("13900070002", "owner", {"firm_uscc": region["A"]}),
        "bank_manager": ("13900070003", "bank_manager", {"bank_code": BANK}),
        "subscriber": ("13900070004", "subscriber", {}),
        "dept_operator": ("13900070005", "dept_operator", {"department": "tax"}),
        "admin": ("13900070006", "admin", {}),
    }
    out = {}
    for key, (phone, role, link) in accounts.items():
        await make_user(phone, role, **link)
        out[key] = await login(client, phone)
    return out


async def _ties(client, uscc: str, headers: dict[str, str]) -> dict:
    r = await client.get(f"/api/firms/{uscc}/ties", headers=headers)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("cache-control", "")  # nothing outlives a revoke
    return r.json()


async def test_owner_sees_partners_amounts_and_edges(client, region, heads):
    body = await _ties(client, region["M"], heads["owner"])
    assert body["as_of"] and body["hidden"] == 1  # F, two links away: counted, not named
    assert body["firm"] == {"uscc": region["M"], "name": "纽带测试M有限公司", "level": None,
                            "hops": 0, "relation": "self", "gives_yuan": 0, "receives_yuan": 0}
    firms = {f["uscc"]: f for f in body["firms"]}
    by_letter = {k: firms.get(v) for k, v in region.items() if k in LETTERS}
    assert by_letter["A"] == {
        "uscc": region["A"], "name": "纽带测试A有限公司", "level": None, "hops": 1,
        "relation": "guarantor", "gives_yuan": 1_500_001, "receives_yuan": 0}
    assert (by_letter["B"]["relation"], by_letter["B"]["gives_yuan"],
            by_letter["B"]["receives_yuan"]) == ("guaranteed", 0, 800_000)
    assert (by_letter["C"]["relation"], by_letter["C"]["gives_yuan"],
            by_letter["C"]["receives_yuan"]) == ("both", 300_000, 200_000)
    # nearest first, then the largest amounts
    assert [f["uscc"] for f in body["firms"]] == [region[k] for k in ("A", "B", "C", "H")]

    edges = {(e["guarantor"], e["guaranteed"]): e["amount_yuan"] for e in body["edges"]}
    m, a, b, c, f = (region[k] for k in "MABCF")
    assert edges == {(a, m): 1_500_001, (m, b): 800_000, (c, m): 300_000, (m, c): 200_000,
                     (a, c): 100_000}
    every = await _ties(client, region["M"], heads["admin"])  # the admin: F too, after the rest
    assert [x["uscc"] for x in every["firms"]] == [region[k] for k in ("A", "B", "C", "H", "F")]
    assert {(e["guarantor"], e["guaranteed"]): e["amount_yuan"] for e in every["edges"]} == {
        **edges, (f, a): 400_000}


async def test_expired_and_future_guarantees_are_not_shown(client, region, heads):
    body = await _ties(client, region["M"], heads["owner"])
    shown = {f["uscc"] for f in body["firms"]}
    assert region["D"] not in shown and region["E"] not in shown
    assert all(region["D"] not in (e["guarantor"], e["guaranteed"]) for e in body["edges"])
    assert all(region["E"] not in (e["guarantor"], e["guaranteed"]) for e in body["edges"])


async def test_two_links_away_is_a_chain_named_only_to_whom_may_see_it(client, region, heads):
    body = await _ties(client, region["M"], heads["admin"])
    far = next(f for f in body["firms"] if f["uscc"] == region["F"])
    assert (far["hops"], far["relation"], far["gives_yuan"], far["receives_yuan"]) == (
        2, "chain", 0, 0)
    assert any(e["guarantor"] == region["F"] for e in body["edges"])
    # F -> A is a guarantee between two other firms: the owner of M sees that it exists, not who
    own = await _ties(client, region["M"], heads["owner"])
    assert region["F"] not in {f["uscc"] for f in own["firms"]} and own["hidden"] == body["hidden"] + 1
    assert all(region["F"] not in (e["guarantor"], e["guaranteed"]) for e in own["edges"])


async def test_shared_people_are_masked_with_their_other_firms(client, region, heads):
    r = await client.get(f"/api/firms/{region['M']}/ties", headers=heads["owner"])
    body = r.json()
    assert "ties-secret-hash" not in r.text and "张三丰" not in r.text and "李四" not in r.text
    people = sorted(body["people"], key=lambda p: p["name"])
    assert [(p["name"], p["roles"], p["firms"]) for p in people] == [
        ("张**", ["legal_rep"], [region["H"]]),
        ("李*", ["shareholder"], [region["A"]]),
    ]
    assert sorted(p["key"] for p in people) == ["p1", "p2"]
    h = next(f for f in body["firms"] if f["uscc"] == region["H"])
    assert (h["hops"], h["relation"]) == (1, "person")
    assert next(f for f in body["firms"] if f["uscc"] == region["A"])["relation"] == "guarantor"
    assert region["J"] not in {f["uscc"] for f in body["firms"]}  # 王五's role in M has ended


async def test_the_cap_keeps_the_largest_and_counts_the_rest(client, region, heads):
    body = await _ties(client, region["HUB"], heads["admin"])
    assert len(body["firms"]) == 24 and body["hidden"] == 2
    assert [f["gives_yuan"] for f in body["firms"]] == [i * 10_000 for i in range(26, 2, -1)]
    assert {region["G1"], region["G2"]}.isdisjoint(f["uscc"] for f in body["firms"])
    assert len(body["edges"]) == 24 and body["people"] == [] and body["path"] is None


async def test_levels_are_open_warnings_only(client, region, heads):
    from server.tables.firms import Firm
    from server.tables.risk import Warning

    ids = {r["uscc"]: r["id"] for r in await Firm.select(Firm.uscc, Firm.id).where(
        Firm.uscc.is_in([region["H"], region["F"]]))}
    now = datetime.now(UTC)

    def warning(uscc: str, level: str, closed: datetime | None) -> Warning:
        return Warning(firm=ids[uscc], rule_code="R07_TAX_ARREARS", level=level, evidence={},
                       opened_at=now, updated_at=now, closed_at=closed, kind="tax")

    await Warning.insert(warning(region["H"], "red", now),  # cleared: no colour
                         warning(region["F"], "blue", None), warning(region["F"], "yellow", None))
    try:
        body = await _ties(client, region["M"], heads["admin"])  # the admin sees F, two links away
        levels = {f["uscc"]: f["level"] for f in body["firms"]}
        assert levels[region["H"]] is None and levels[region["F"]] == "yellow"
        assert levels[region["A"]] is None
        for viewer in ("owner", "admin"):
            r = await client.get(f"/api/firms/{region['M']}/ties", headers=heads[viewer])
            assert "R07_TAX_ARREARS" not in r.text  # the public signal only
    finally:
        await Warning.delete().where(Warning.firm.is_in(list(ids.values())))


async def test_contagion_path_after_a_scan(client, region, heads):
    r = await client.post("/api/risk/scan", json={}, headers=heads["admin"])
    assert r.status_code == 200, r.text
    assert r.json()["red_firms"] >= 1 and r.json()["contagion_firms"] >= 1

    body = await _ties(client, region["M"], heads["owner"])
    levels = {f["uscc"]: f["level"] for f in body["firms"]}
    assert levels[region["B"]] == "red"  # suspended: its own red warning
    assert body["firm"]["level"] in LEVELS  # M carries B's distress
    path = body["path"]
    assert path is not None and path["level"] in LEVELS
    assert path["usccs"] == [region["B"], region["M"]]
    assert path["names"] == ["纽带测试B有限公司", "纽带测试M有限公司"]
    assert path["amounts_yuan"] == [800_000]
    assert (path["source_uscc"], path["source_name"]) == (region["B"], "纽带测试B有限公司")
    assert path["warning_id"] > 0 and path["raised_at"]

    # the red source has no contagion warning of its own: the path it starts is shown
    source = (await _ties(client, region["B"], heads["admin"]))["path"]
    assert source is not None and source["usccs"][0] == region["B"]
    assert source["source_uscc"] == region["B"]
    assert len(source["amounts_yuan"]) == len(source["usccs"]) - 1
    # A stands behind M: the path through M reaches it
    a_path = (await _ties(client, region["A"], heads["admin"]))["path"]
    assert a_path is not None and a_path["usccs"][:3] == [region["B"], region["M"], region["A"]]


async def test_a_bank_needs_the_firms_consent_and_its_view_is_logged(client, region, heads):
    from server.tables.financing import Bank

    url = f"/api/firms/{region['M']}/ties"
    bank = heads["bank_manager"]
    refused = await client.get(url, headers=bank)
    assert refused.status_code == 403 and "consent" in refused.json()["detail"], refused.text

    bank_id = (await Bank.select(Bank.id).where(Bank.code == BANK).first())["id"]
    granted = await client.post("/api/consents", json={"bank_id": bank_id, "days": 30},
                                headers=heads["owner"])
    assert granted.status_code == 201, granted.text
    log = f"/api/firms/{region['M']}/access-log"
    before = (await client.get(log, headers=heads["owner"])).json()
    seen = await _ties(client, region["M"], bank)
    assert seen["firm"]["uscc"] == region["M"] and seen["firms"]
    # M's consent shows M's own guarantees, not F's guarantee to A (F gave the bank nothing)
    assert region["F"] not in {f["uscc"] for f in seen["firms"]} and seen["hidden"] >= 1
    after = (await client.get(log, headers=heads["owner"])).json()
    assert len(after) == len(before) + 1
    assert (after[0]["what"], after[0]["viewer_role"], after[0]["bank_id"]) == (
        "ties", "bank_manager", bank_id)
    # the owner's own views are not logged
    await _ties(client, region["M"], heads["owner"])
    assert len((await client.get(log, headers=heads["owner"])).json()) == len(after)

    revoked = await client.delete(f"/api/consents/{granted.json()['id']}", headers=heads["owner"])
    assert revoked.status_code in (200, 204), revoked.text
    again = await client.get(url, headers=bank)
    assert again.status_code == 403 and "consent" in again.json()["detail"], again.text


async def test_admins_see_any_firm_and_are_logged(client, region, heads):
    log = f"/api/firms/{region['C']}/access-log"
    before = len((await client.get(log, headers=heads["admin"])).json())
    await _ties(client, region["C"], heads["admin"])
    entries = (await client.get(log, headers=heads["admin"])).json()
    assert len(entries) == before + 1 and entries[0]["what"] == "ties"
    assert entries[0]["viewer_role"] == "admin"


async def test_everyone_else_is_refused(client, region, heads):
    url = f"/api/firms/{region['M']}/ties"
    for role in ("subscriber", "dept_operator"):
        r = await client.get(url, headers=heads[role])
        assert r.status_code == 403, (role, r.text)
    other = await client.get(url, headers=heads["other_owner"])
    assert other.status_code == 403 and "own firm" in other.json()["detail"], other.text
    assert (await client.get(url)).status_code == 401


async def test_bad_and_unknown_codes(client, region, heads):
    bad = await client.get("/api/firms/NOT-A-USCC/ties", headers=heads["admin"])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("uscc:"), bad.text
    wrong_check = region["M"][:17] + ("0" if region["M"][17] != "0" else "1")
    bad = await client.get(f"/api/firms/{wrong_check}/ties", headers=heads["admin"])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("uscc:"), bad.text
    unknown = await client.get(f"/api/firms/{_code(7999)}/ties", headers=heads["admin"])
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("uscc:"), unknown.text
    # codes are read in capitals, as the evaluation reads them
    assert (await client.get(f"/api/firms/{region['M'].lower()}/ties",
                             headers=heads["owner"])).status_code == 200
