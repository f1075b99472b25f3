"""Training reads what the platform knew on each past day (issue 11, "what to build" 3).

A department's archive (a back-filled batch, as the demo region is loaded) counts from each
record's event date; a live batch counts from the moment it arrived, so a listing dated a year
ago but sent today cannot inform a model trained as of six months ago. Runs on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tests.integration.conftest import login, make_user

pytestmark = pytest.mark.anyio


async def test_live_rows_count_from_arrival_and_archives_from_their_event_date(client, demo, engine):
    from scoring.features import compute_features
    from scoring.records import current_versions, known_at
    from server.scores.frames import load_record_history
    from server.tables.firms import Firm

    before = await load_record_history(engine)
    assert len(before) > 10_000 and before["superseded_at"].isna().all()
    assert (before["known_from"] == before["event_date"]).all()  # the demo region is an archive

    firm = await Firm.select(Firm.uscc).order_by(Firm.id).first()
    year_ago = (before["event_date"].max() - pd.DateOffset(years=1)).date()
    await make_user("13900080001", "dept_operator", department="court")
    court = {**await login(client, "13900080001"), "content-type": "text/csv"}
    for key, query in (("LATE-LIVE-1", ""), ("LATE-ARCHIVE-1", "?backfill=true")):
        csv = f"record_key,uscc,event_date,end_date,amount_yuan\n{key},{firm['uscc']},{year_ago},,80000\n"
        r = await client.post(f"/api/ingest/dishonest_debtor{query}", content=csv.encode(), headers=court)
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    history = await load_record_history(engine)
    new = history[(history["uscc"] == firm["uscc"]) & (history["kind"] == "dishonest_debtor")
                  & (history["event_date"] == pd.Timestamp(year_ago))]
    assert len(new) == 2
    now = datetime.now(UTC).replace(tzinfo=None)
    arrived = new["known_from"].max()
    assert abs(arrived - now) < timedelta(minutes=5)  # the live row: from its arrival
    assert new["known_from"].min() == pd.Timestamp(year_ago)  # the archive row: from its event date

    half_year_ago = pd.Timestamp(year_ago) + pd.DateOffset(months=6)
    firms = pd.DataFrame({"uscc": [firm["uscc"]], "founded_on": [pd.Timestamp("2000-01-01")],
                          "registered_capital_fen": [1]})
    told = compute_features(known_at(history, half_year_ago), half_year_ago, firms=firms)
    hindsight = compute_features(current_versions(history), half_year_ago, firms=firms)
    assert hindsight.loc[firm["uscc"], "dishonest_listings_36m"] == told.loc[firm["uscc"], "dishonest_listings_36m"] + 1
