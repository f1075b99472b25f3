"""The tracking model of supported projects (``scoring.projects``): measures, plan, deviations,
result."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from scoring.projects import (
    Promise,
    baseline_month,
    monthly_measures,
    planned_share,
    result_score,
    track,
)

U = "91330000000000001X"


def _records(months: pd.DatetimeIndex, heads: list[float], vat: list[float | None]) -> pd.DataFrame:
    rows = []
    for m, h, v in zip(months, heads, vat, strict=True):
        rows.append({"uscc": U, "kind": "social_insurance", "event_date": m, "category": "pension",
                     "amount_fen": 100, "quantity": h})
        if v is not None:
            rows.append({"uscc": U, "kind": "tax_monthly", "event_date": m, "category": "vat",
                         "amount_fen": int(v * 100), "quantity": np.nan})
    return pd.DataFrame(rows)


def test_the_plan_is_a_straight_line_over_the_project_months():
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    assert baseline_month(start) == date(2025, 12, 31)
    assert planned_share(start, end, date(2025, 12, 31)) == 0
    assert planned_share(start, end, date(2026, 6, 30)) == pytest.approx(0.5)
    assert planned_share(start, end, date(2026, 12, 15)) == 1
    assert planned_share(start, end, date(2027, 5, 31)) == 1


def test_measures_read_headcount_and_a_year_of_tax_and_never_carry_a_month_over():
    months = pd.date_range("2025-01-31", periods=18, freq="ME")
    vat = [10_000.0] * 12 + [13_000.0] * 5 + [None]
    m = monthly_measures(_records(months, [10] * 17 + [12], vat), U, [months[11].date(), months[16].date(),
                                                                      months[17].date()])
    assert m["jobs"].tolist() == [10, 10, 12]
    assert m["tax"].iloc[0] == pytest.approx(120_000)
    assert m["tax"].iloc[1] == pytest.approx((7 * 10_000 + 5 * 13_000) / 12 * 12)
    assert m["output"].iloc[0] == pytest.approx(120_000 / 0.13)
    assert np.isnan(m["tax"].iloc[2])  # no VAT record that month: unknown, not last month's figure
    once = monthly_measures(_records(months, [10] * 18, [10_000.0] * 18), U, [months[17].date(), months[17].date()])
    assert len(once) == 1  # a month asked for twice is read once (a project judged at its baseline)
    few = monthly_measures(_records(months[:4], [10] * 4, [10_000.0] * 4), U, [months[3].date()])
    assert np.isnan(few["tax"].iloc[0])  # fewer than 6 months in the window


def _measures(month: date, **values: float) -> pd.DataFrame:
    return pd.DataFrame({k: [v] for k, v in values.items()}, index=pd.DatetimeIndex([pd.Timestamp(month)]))


@pytest.mark.parametrize(("actual", "status"), [(26, "on_track"), (24.3, "on_track"), (24.1, "behind_plan"),
                                                (20, "behind_plan"), (18.7, "off_target")])
def test_each_promise_is_judged_against_its_plan(actual: float, status: str):
    start, end, month = date(2026, 1, 1), date(2026, 12, 31), date(2026, 6, 30)
    found = track([Promise("jobs", 12, baseline=20)], start, end, month, _measures(month, jobs=actual))
    assert found.outcomes[0].status == status
    assert found.status == ("on_track" if status == "on_track" else "behind")
    if status != "on_track":
        d = found.deviations[0]
        assert d.kind == status and d.metric == "jobs" and d.figures["expected"] == 26
        assert d.figures["actual"] == actual


def test_early_months_are_not_judged_behind_and_missing_data_is_a_deviation():
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    early = track([Promise("jobs", 12, baseline=20)], start, end, date(2026, 1, 31), _measures(date(2026, 1, 31), jobs=20))
    assert early.status == "on_track" and early.deviations == []
    month = date(2026, 6, 30)
    gone = track([Promise("jobs", 12, baseline=20)], start, end, month, _measures(month, jobs=np.nan))
    assert gone.status == "behind" and [d.kind for d in gone.deviations] == ["no_data"]
    assert gone.outcomes[0].achieved is None


def test_reported_metrics_overdue_milestones_and_trouble():
    start, end, month = date(2026, 1, 1), date(2026, 12, 31), date(2026, 6, 30)
    found = track([Promise("investment", 1_000_000)], start, end, month, _measures(month, jobs=1.0),
                  reported={"investment": 600_000}, overdue=[("中期评估", date(2026, 6, 1))],
                  trouble=[("R02", "红色预警", "red warning")])
    assert found.outcomes[0].achieved == pytest.approx(0.6) and found.outcomes[0].status == "on_track"
    assert [d.kind for d in found.deviations] == ["milestone_overdue", "firm_in_trouble"]
    unreported = track([Promise("investment", 1_000_000)], start, end, month, _measures(month, jobs=1.0))
    assert unreported.deviations == []  # reported at milestones: not a data gap
    closed = track([Promise("jobs", 1, baseline=1)], start, end, month, _measures(month, jobs=2), firm_closed=True)
    assert closed.status == "failed"


def test_the_result_weighs_promises_and_the_assessment_and_counts_unknown_as_nothing():
    start, end, month = date(2026, 1, 1), date(2026, 12, 31), date(2026, 12, 31)
    found = track([Promise("jobs", 10, baseline=20), Promise("tax", 10_000, baseline=100_000)],
                  start, end, month, _measures(month, jobs=35, tax=np.nan))
    r = result_score(found.outcomes, 80)
    assert r.achievement == pytest.approx(0.5)  # jobs capped at 100 %, tax unknown = 0
    assert r.score == round(0.7 * 50 + 0.3 * 80) and r.rating == "fail" and not r.passed
    assert result_score(found.outcomes, None).score == 50
    full = track([Promise("jobs", 10, baseline=20)], start, end, month, _measures(month, jobs=30))
    assert result_score(full.outcomes, 90).score == 97 and result_score(full.outcomes, 90).rating == "excellent"
    assert result_score([], 75).score == 75
