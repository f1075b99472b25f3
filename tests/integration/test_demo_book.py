"""First sight for a bank manager (issue 13 must-show 3): the demo bank follows its borrowers and
applicants from the start, so the manager's inbox holds the region's warnings on them at the
first sign-in, and the bank sees detail only where the firm's consent is in force."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_the_demo_managers_first_inbox_holds_warnings_on_the_banks_own_book(client, tokens):
    from server.tables.financing import LoanApplication
    from server.tables.users import User

    manager = tokens["bank_manager"]
    inbox = await client.get("/api/notifications", headers=manager)
    assert inbox.status_code == 200, inbox.text
    notes = inbox.json()
    assert notes, "the demo bank manager's inbox is empty on first sign-in"
    assert {n["level"] for n in notes} & {"red", "yellow"}

    me = await User.select(User.bank).where(User.phone == "13800000002").first()
    book = {r["firm.uscc"] for r in await LoanApplication.select(LoanApplication.firm.uscc).where(
        LoanApplication.product.bank == me["bank"])}
    statuses = {r["status"] for r in await LoanApplication.select(LoanApplication.status).where(
        LoanApplication.product.bank == me["bank"])}
    assert {"disbursed", "pending"} <= statuses  # borrowers and applicants
    about = {n["firm_uscc"] for n in notes if n["kind"] == "risk"}
    assert about and about <= book, "a manager hears about the bank's own book, and only that"
    assert all(n["body"]["detail"] for n in notes if n["kind"] == "risk")  # the book has consented

    apps = await client.get("/api/applications", headers=manager)
    assert apps.status_code == 200 and len(apps.json()) >= 40


async def test_the_demo_owner_is_not_in_the_banks_book(client, tokens):
    from server.tables.financing import LoanApplication
    from server.tables.users import User

    owner = await User.select(User.firm).where(User.phone == "13800000001").first()
    assert not await LoanApplication.exists().where(LoanApplication.firm == owner["firm"])


async def test_the_demo_subscriber_watches_firms_from_the_start(client, tokens, demo):
    """First sight for a subscriber: a watchlist (the demo owner's firm and firms tied by
    guarantees) and, in the inbox, only news about those firms."""
    from server.tables.firms import Guarantee

    subs = await client.get("/api/subscriptions", headers=tokens["subscriber"])
    assert subs.status_code == 200, subs.text
    watched = {s["uscc"] for s in subs.json()}
    assert demo.firm_uscc in watched and len(watched) >= 3
    tied = {r["guarantor.uscc"] for r in await Guarantee.select(Guarantee.guarantor.uscc)} | {
        r["guaranteed.uscc"] for r in await Guarantee.select(Guarantee.guaranteed.uscc)}
    assert watched - {demo.firm_uscc} <= tied
    notes = (await client.get("/api/notifications", headers=tokens["subscriber"])).json()
    assert {n["firm_uscc"] for n in notes if n["firm_uscc"]} <= watched


async def test_half_the_demo_applicants_owe_or_guarantee_already(client, tokens):
    """The decision screen's exposure has something to show: pending applicants that already owe
    a bank (the banks' feed) or stand in a guarantee, beside ones that do not."""
    pending = (await client.get("/api/applications", params={"status": "pending"},
                                headers=tokens["bank_manager"])).json()
    assert len(pending) >= 4
    exposures = [(await client.get(f"/api/applications/{a['id']}", headers=tokens["bank_manager"])).json()["exposure"]
                 for a in pending]
    owing = [x for x in exposures if x["bank_debt_yuan"] or x["guarantees_given"] or x["guarantees_received"]]
    assert owing and len(owing) < len(exposures), exposures
