"""Hard overrides: defaulted, dishonest and revoked firms are D, named first, without look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.grades import GradeBands, ScoreScale
from scoring.overrides import (
    DEFAULT_RULES,
    OverrideRule,
    OverrideRuleSet,
    apply_overrides,
    evaluate_overrides,
    new_override_dates,
    override_reasons,
    top_score,
)
from scoring.pipeline import score_region
from scoring.scorecard import Scorecard

from .conftest import FIRM_A, FIRM_B, make_records, monthly

AS_OF = pd.Timestamp("2024-06-30")
RULES = OverrideRuleSet.default(now=datetime(2024, 1, 1, tzinfo=UTC))


def _firms(status: str = "active") -> pd.DataFrame:
    return pd.DataFrame({
        "uscc": [FIRM_A, FIRM_B], "name": ["甲", "乙"], "industry_section": ["C", "C"],
        "industry_division": ["13", "13"], "town": ["环翠", "环翠"],
        "registered_capital_fen": [10**8, 10**8],
        "founded_on": pd.to_datetime(["2010-01-01", "2010-01-01"]),
        "size_class": ["small", "small"], "status": [status, "active"]})


def _healthy_b() -> list[dict[str, object]]:
    """Firm B: a clean loan and steady tax, never overridden."""
    return (monthly(FIRM_B, "bank_loan", "2024-06-30", [0] * 12, column="days")
            + monthly(FIRM_B, "tax_monthly", "2024-06-30", [100.0] * 12, category="vat"))


# -- the rule set -------------------------------------------------------------------------------

def test_default_rules_and_revision_are_audited() -> None:
    assert RULES.label == "overrides@v1" and RULES.rules == DEFAULT_RULES
    v2 = RULES.revise(changed_by="13800000000", reason="stricter",
                      rules=[OverrideRule("bank_default", min_days=60)])
    assert v2.label == "overrides@v2" and RULES.rule("bank_default").min_days == 90
    assert v2.rule("bank_default").min_days == 60 and v2.rule("dishonest_debtor") is not None
    assert [h.version for h in v2.history] == [1, 2] and v2.history[-1].reason == "stricter"
    assert OverrideRuleSet.from_dict(v2.to_dict()) == v2
    off = v2.revise(changed_by="x", reason="off", rules=[OverrideRule("dishonest_debtor", False)])
    assert off.rule("dishonest_debtor") is None


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"code": "nope"}, "code"),
    ({"code": "bank_default", "min_days": 5}, "min_days"),
    ({"code": "bank_default"}, "min_days"),
    ({"code": "dishonest_debtor", "min_days": 90}, "min_days"),
    ({"code": "registry_status", "statuses": ("gone",)}, "statuses"),
    ({"code": "registry_status"}, "statuses"),
])
def test_bad_rules_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        OverrideRule(**kwargs)


# -- evaluation as of a date --------------------------------------------------------------------

def test_written_off_loan_with_no_report_since_is_a_default() -> None:
    # Overdue 95, 125 days, then the bank stops reporting (wrote the loan off) in February.
    rows = monthly(FIRM_A, "bank_loan", "2024-02-29", [0] * 10 + [95, 125], column="days")
    hits = evaluate_overrides(RULES, _firms(), make_records(rows + _healthy_b()), AS_OF)
    assert hits["overridden"].tolist() == [True, False]
    assert bool(hits.loc[FIRM_A, "bank_default_written_off"])
    assert hits.loc[FIRM_A, "bank_default_days"] == 125
    (first,) = override_reasons(hits, 0, points=-40)
    assert first.code == "override:bank_default" and first.points == -40
    assert "2024-02-29" in first.text_zh and "核销" in first.text_zh
    assert "2024-02-29" in first.text_en and "written off" in first.text_en
    assert override_reasons(hits, 1) == []


def test_a_later_report_under_the_line_cures_the_default() -> None:
    rows = monthly(FIRM_A, "bank_loan", "2024-06-30", [0] * 9 + [95, 125, 0], column="days")
    hits = evaluate_overrides(RULES, _firms(), make_records(rows), AS_OF)
    assert not hits.loc[FIRM_A, "overridden"]


def test_threshold_and_disabled_rules_are_honoured() -> None:
    rows = monthly(FIRM_A, "bank_loan", "2024-06-30", [0] * 11 + [65], column="days")
    records = make_records(rows)
    assert not evaluate_overrides(RULES, _firms(), records, AS_OF).loc[FIRM_A, "overridden"]
    v2 = RULES.revise(changed_by="a", reason="60 days",
                      rules=[OverrideRule("bank_default", min_days=60)])
    assert evaluate_overrides(v2, _firms(), records, AS_OF).loc[FIRM_A, "bank_default"]
    off = v2.revise(changed_by="a", reason="off",
                    rules=[OverrideRule("bank_default", False, min_days=60)])
    assert not evaluate_overrides(off, _firms(), records, AS_OF).loc[FIRM_A, "overridden"]


def test_a_rule_hit_after_the_scoring_date_is_dated_by_its_record() -> None:
    # A is listed on 12 July, after the month end; B defaulted in May, already known by then.
    listing = {"uscc": FIRM_A, "kind": "dishonest_debtor", "event_date": "2024-07-12", "amount_fen": 10**7}
    b_loan = monthly(FIRM_B, "bank_loan", "2024-06-30", [0] * 10 + [95, 125], column="days")
    records = make_records([listing, *b_loan, *monthly(FIRM_A, "tax_monthly", "2024-06-30", [1.0] * 3)])
    day = new_override_dates(RULES, _firms(), records, AS_OF, pd.Timestamp("2024-07-20"))
    assert day[FIRM_A] == pd.Timestamp("2024-07-12") and pd.isna(day[FIRM_B])
    # Not yet known on the 10th; a listing dated after "until" does not count either.
    assert new_override_dates(RULES, _firms(), records, AS_OF, pd.Timestamp("2024-07-10")).isna().all()
    # A bank's 90+ report for July 31 read on August 3 is dated by the report.
    late = make_records([*monthly(FIRM_A, "bank_loan", "2024-07-31", [0] * 11 + [92], column="days")])
    day = new_override_dates(RULES, _firms(), late, AS_OF, pd.Timestamp("2024-08-03"))
    assert day[FIRM_A] == pd.Timestamp("2024-07-31") and pd.isna(day[FIRM_B])


def test_revoked_firm_is_overridden_only_once_the_status_is_known() -> None:
    records = make_records(_healthy_b())
    hits = evaluate_overrides(RULES, _firms("revoked"), records, AS_OF, status_known_on=AS_OF)
    assert hits["registry_status"].tolist() == [True, False]
    assert "吊销" in override_reasons(hits, 0)[0].text_zh
    # A back-score of a year ago must not read today's status.
    past = evaluate_overrides(RULES, _firms("revoked"), records, AS_OF - pd.DateOffset(years=1),
                              status_known_on=AS_OF)
    assert not past["overridden"].any()
    assert not evaluate_overrides(RULES, _firms("suspended"), records, AS_OF)["overridden"].any()


_days = st.integers(min_value=0, max_value=400)
_offset = st.integers(min_value=-400, max_value=400)  # days relative to AS_OF


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["bank_loan", "dishonest_debtor"]), days=_days, event=_offset,
       end=st.one_of(st.none(), _offset), min_days=st.integers(min_value=30, max_value=365))
def test_any_unresolved_fact_on_the_date_is_d_and_named_first(
        kind: str, days: int, event: int, end: int | None, min_days: int) -> None:
    rules = RULES.revise(changed_by="t", reason="t",
                         rules=[OverrideRule("bank_default", min_days=min_days)])
    ev = AS_OF + pd.Timedelta(days=event)
    ended = None if end is None else ev + pd.Timedelta(days=abs(end))
    row = {"uscc": FIRM_A, "kind": kind, "event_date": ev, "end_date": ended,
           "days": days if kind == "bank_loan" else None, "amount_fen": 10**6}
    hits = evaluate_overrides(rules, _firms(), make_records([row, *_healthy_b()]), AS_OF)
    known = ev <= AS_OF  # no look-ahead: a record after the date does nothing
    active = ended is None or ended > AS_OF  # resolved before the date: not overridden
    expected = known and active and (kind != "bank_loan" or days >= min_days)
    assert bool(hits.loc[FIRM_A, "overridden"]) == expected
    assert not hits.loc[FIRM_B, "overridden"]
    reasons = override_reasons(hits, 0)
    if expected:
        code = "bank_default" if kind == "bank_loan" else "dishonest_debtor"
        assert reasons[0].code == f"override:{code}"
        assert str(ev.date()) in reasons[0].text_zh and str(ev.date()) in reasons[0].text_en
    else:
        assert reasons == []


# -- the cap: grade, score and PD agree ---------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.floats(1e-4, 0.6), min_size=3, max_size=3, unique=True),
       pdo=st.floats(10.0, 80.0), base=st.floats(300.0, 800.0),
       scores=st.lists(st.integers(0, 1000), min_size=1, max_size=30))
def test_capped_rows_are_d_with_a_d_score_and_pd(cuts: list[float], pdo: float, base: float,
                                                scores: list[int]) -> None:
    bands = GradeBands(upper=tuple(sorted(cuts)))
    scale = ScoreScale(base_points=base, pdo=pdo)
    s = np.asarray(scores)
    p = 1.0 / (1.0 + np.exp(-scale.bad_logit(s)))
    hit = np.arange(len(s)) % 2 == 0
    score, pd_, grade, points = apply_overrides(s, p, bands.assign(p), hit, bands, scale)
    assert (grade[hit] == "D").all()
    shown = bands.assign(1.0 / (1.0 + np.exp(-scale.bad_logit(score[hit]))))
    if bands.assign(1.0 / (1.0 + np.exp(-scale.bad_logit(np.array([0.0])))))[0] == "D":
        assert (shown == "D").all()  # the score itself reads D (when the scale reaches D at all)
    else:
        assert (score[hit] == 0).all()  # else as low as the scale goes
    assert (pd_[hit] >= bands.upper[-1]).all() and (score[hit] <= top_score(bands, scale)).all()
    assert (score == s + points).all() and (points <= 0).all() and (points[~hit] == 0).all()
    assert (score[~hit] == s[~hit]).all() and (pd_[~hit] == p[~hit]).all()


def test_score_region_grades_the_defaulted_firm_d(fitted: Scorecard) -> None:
    rows = monthly(FIRM_A, "bank_loan", "2024-02-29", [0] * 10 + [95, 125], column="days")
    rows += monthly(FIRM_A, "tax_monthly", "2024-06-30", [100.0] * 12, category="vat")
    records = make_records(rows + _healthy_b())
    plain = score_region(fitted, _firms(), records, AS_OF.date())
    res = score_region(fitted, _firms(), records, AS_OF.date(), overrides=RULES)
    t = res.table
    assert t.loc[FIRM_A, "grade"] == "D" and (t["override_version"] == "overrides@v1").all()
    assert t.loc[FIRM_A, "score"] == plain.table.loc[FIRM_A, "score"] + t.loc[FIRM_A, "override_points"]
    assert t.loc[FIRM_B, "score"] == plain.table.loc[FIRM_B, "score"]
    assert t.loc[FIRM_B, "override_points"] == 0
    assert res.overrides is not None and res.overrides["overridden"].tolist() == [True, False]
