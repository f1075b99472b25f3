"""The warning rules: every rule fires on a crafted frame, stays quiet just short of its
threshold and clears; no rule reads past ``as_of``; a subset scan equals the full scan for
its firms; reconciliation raises, updates and closes; rates on a synthetic county."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.records import RECORD_KINDS
from scoring.risk import (
    KINDS,
    LEVELS,
    RULES,
    Finding,
    RedPartners,
    catalogue,
    evaluate,
    findings_frame,
    reconcile,
    red_firms,
    runnable,
)

from .conftest import FIRM_A, FIRM_B, make_records

A, B = FIRM_A, FIRM_B
AS_OF = "2024-06-30"
LATER = "2024-07-31"
NEXT_YEAR = "2025-06-30"

_STATEMENT_DEFAULTS = {"revenue": 1_000_000_000, "cost_of_sales": 800_000_000,
                       "net_profit": 50_000_000, "total_assets": 1_000_000_000,
                       "total_liabilities": 500_000_000, "current_assets": 600_000_000,
                       "current_liabilities": 300_000_000, "inventory": 100_000_000,
                       "receivables": 100_000_000, "equity": 500_000_000,
                       "operating_cash_flow": 60_000_000, "interest_expense": 10_000_000}


# ---------------------------------------------------------------------------------------------
# record builders


def mon(kind: str, end: str = AS_OF, category: str | None = None, uscc: str = A,
        **columns: list[float]) -> list[dict[str, object]]:
    """One record per month ending at ``end``; each column a list (last = latest month)."""
    n = len(next(iter(columns.values())))
    months = pd.date_range(end=pd.Timestamp(end), periods=n, freq="ME")
    return [{"uscc": uscc, "kind": kind, "event_date": m, "category": category,
             **{c: v[i] for c, v in columns.items()}} for i, m in enumerate(months)]


def ev(kind: str, day: str, uscc: str = A, **cols: object) -> dict[str, object]:
    return {"uscc": uscc, "kind": kind, "event_date": day, **cols}


def statement(year: int, filed: str, uscc: str = A, **items: int) -> dict[str, object]:
    attrs = {"year": year, **_STATEMENT_DEFAULTS, **items}
    return ev("financial_statement", filed, uscc, amount_fen=attrs["revenue"], attrs=attrs)


def firms_frame(status_a: str = "active") -> pd.DataFrame:
    return pd.DataFrame({
        "uscc": [A, B], "name": ["甲公司", "乙公司"], "industry_section": ["C", "C"],
        "industry_division": ["34", "34"], "town": ["城关镇", "城关镇"],
        "registered_capital_fen": [500_000_000, 500_000_000],
        "founded_on": pd.to_datetime(["2010-01-01", "2012-01-01"]),
        "size_class": ["small", "small"], "status": [status_a, "active"],
    })


@dataclass
class Scenario:
    rows: list[dict[str, object]]
    as_of: str = AS_OF
    status: str = "active"
    scores: pd.DataFrame | None = None
    partners: RedPartners | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def run(self, rules: list[str] | None = None, **kw: object) -> list[Finding]:
        return evaluate(make_records(self.rows), firms_frame(self.status), self.as_of,
                        scores=self.scores, red_partners=self.partners, rules=rules, **kw)


def fires(scn: Scenario, code: str) -> Finding | None:
    found = [f for f in scn.run([code]) if f.uscc == A and f.rule_code == code]
    assert len(found) <= 1
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------
# one case per rule: fire / quiet (just short of the threshold) / clear (later, cleared)

Case = Callable[[str], Scenario]
CASES: dict[str, Case] = {}


def case(code: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[code] = fn
        return fn
    return register


def _clear_next_month(kind: str, rows: list[dict[str, object]], category: str | None = None,
                      **cols: object) -> Scenario:
    return Scenario(rows + [ev(kind, LATER, category=category, **cols)], LATER)


def _loan(days: float, interest: float = 0.0, n: int = 6,
          balance: float = 100_000_000) -> list[dict[str, object]]:
    return mon("bank_loan", amount_fen=[balance] * n, days=[0] * (n - 1) + [days],
               arrears_fen=[0] * (n - 1) + [interest])


@case("R01_INTEREST_OVERDUE_30")
def _r01(v: str) -> Scenario:
    rows = _loan(30 if v == "quiet" else 31, 500_000)
    if v == "clear":
        return _clear_next_month("bank_loan", rows, amount_fen=100_000_000, days=0,
                                 arrears_fen=0)
    return Scenario(rows)


@case("R02_LOAN_OVERDUE_90")
def _r02(v: str) -> Scenario:
    rows = _loan(89 if v == "quiet" else 90, 1_000_000)
    if v == "clear":
        return _clear_next_month("bank_loan", rows, amount_fen=100_000_000, days=0,
                                 arrears_fen=0)
    return Scenario(rows)


@case("R03_LOAN_OVERDUE")
def _r03(v: str) -> Scenario:
    rows = _loan(0 if v == "quiet" else 10)
    if v == "clear":
        return _clear_next_month("bank_loan", rows, amount_fen=100_000_000, days=0,
                                 arrears_fen=0)
    return Scenario(rows)


@case("R04_OVERDUE_REPEATED")
def _r04(v: str) -> Scenario:
    days = [0] * 12
    for lag in ((9, 5, 1) if v != "quiet" else (9, 5)):
        days[11 - lag] = 5
    rows = mon("bank_loan", amount_fen=[1e8] * 12, days=days, arrears_fen=[0] * 12)
    if v == "clear":
        rows += mon("bank_loan", end=NEXT_YEAR, amount_fen=[1e8] * 12, days=[0] * 12,
                    arrears_fen=[0] * 12)
        return Scenario(rows, NEXT_YEAR)
    return Scenario(rows)


@case("R05_LOAN_SURGE")
def _r05(v: str) -> Scenario:
    last = 2.0e7 if v == "quiet" else 2.5e7
    rows = mon("bank_loan", amount_fen=[1e7] * 13 + [last], days=[0] * 14)
    if v == "clear":
        return _clear_next_month("bank_loan", rows, amount_fen=1.2e7, days=0)
    return Scenario(rows)


@case("R06_LOAN_TO_ASSETS_HIGH")
def _r06(v: str) -> Scenario:
    loan = 7e8 if v == "quiet" else 8e8
    rows = mon("bank_loan", amount_fen=[loan] * 3, days=[0] * 3) + [
        statement(2023, "2024-05-10", total_assets=1_000_000_000)]
    if v == "clear":
        return _clear_next_month("bank_loan", rows, amount_fen=5e8, days=0)
    return Scenario(rows)


def _arrears_case(kind: str, category: str | None, months_owed: int, v: str) -> Scenario:
    arrears = [0.0] * (6 - months_owed) + [100_000.0] * months_owed
    rows = mon(kind, category=category, amount_fen=[1e6] * 6, arrears_fen=arrears)
    if v == "clear":
        return _clear_next_month(kind, rows, category=category, amount_fen=1e6, arrears_fen=0)
    return Scenario(rows)


@case("R07_TAX_ARREARS")
def _r07(v: str) -> Scenario:
    if v == "quiet":
        return Scenario(mon("tax_monthly", category="vat", amount_fen=[1e6] * 6,
                            arrears_fen=[0] * 6))
    rows = mon("tax_monthly", category="vat", amount_fen=[1e6] * 6, arrears_fen=[0] * 5 + [1])
    if v == "clear":
        return _clear_next_month("tax_monthly", rows, category="vat", amount_fen=1e6,
                                 arrears_fen=0)
    return Scenario(rows)


@case("R08_TAX_ARREARS_3M")
def _r08(v: str) -> Scenario:
    return _arrears_case("tax_monthly", "vat", 2 if v == "quiet" else 3, v)


@case("R09_VAT_ZERO_MONTHS")
def _r09(v: str) -> Scenario:
    recent = [0, 0, 1e5, 1e5, 1e5, 1e5] if v == "quiet" else [0, 0, 0, 1e5, 1e5, 1e5]
    rows = mon("tax_monthly", category="vat", amount_fen=[1e5] * 12 + recent)
    if v == "clear":
        rows += mon("tax_monthly", end="2024-09-30", category="vat", amount_fen=[1e5] * 3)
        return Scenario(rows, "2024-09-30")
    return Scenario(rows)


def _yoy_case(kind: str, category: str | None, column: str, base: float, ratio: float,
              v: str) -> Scenario:
    rows = mon(kind, category=category, **{column: [base] * 12 + [base * ratio] * 3})
    if v == "clear":
        rows += mon(kind, end="2024-09-30", category=category, **{column: [base] * 3})
        return Scenario(rows, "2024-09-30")
    return Scenario(rows)


@case("R10_VAT_DROP_YOY")
def _r10(v: str) -> Scenario:
    return _yoy_case("tax_monthly", "vat", "amount_fen", 1e6, 0.51 if v == "quiet" else 0.49, v)


@case("R11_VAT_DECLINE_STREAK")
def _r11(v: str) -> Scenario:
    vat = [1e6, 1e6, 9.5e5, 9e5, 8.5e5, 8e5, 7.5e5] if v == "quiet" else [
        1e6, 9.5e5, 9e5, 8.5e5, 8e5, 7.5e5, 7e5]
    rows = mon("tax_monthly", category="vat", amount_fen=vat)
    if v == "clear":
        return _clear_next_month("tax_monthly", rows, category="vat", amount_fen=9e5)
    return Scenario(rows)


def _stopped_case(kind: str, category: str | None, gap: int, v: str, **cols: float) -> Scenario:
    end = pd.Timestamp(AS_OF) - pd.offsets.MonthEnd(gap - (1 if v == "quiet" else 0))
    rows = mon(kind, end=str(end.date()), category=category,
               **{c: [x] * 12 for c, x in cols.items()})
    if v == "clear":
        return _clear_next_month(kind, rows, category=category, **cols)
    return Scenario(rows)


@case("R12_TAX_FILING_STOPPED")
def _r12(v: str) -> Scenario:
    return _stopped_case("tax_monthly", "vat", 3, v, amount_fen=1e6)


@case("R13_SOCIAL_ARREARS")
def _r13(v: str) -> Scenario:
    return _arrears_case("social_insurance", "pension", 0 if v == "quiet" else 1, v)


@case("R14_SOCIAL_ARREARS_3M")
def _r14(v: str) -> Scenario:
    return _arrears_case("social_insurance", "pension", 2 if v == "quiet" else 3, v)


@case("R15_HEADCOUNT_DROP_3M")
def _r15(v: str) -> Scenario:
    rows = mon("social_insurance", category="pension",
               quantity=[100, 100, 100, 71 if v == "quiet" else 69])
    if v == "clear":
        rows += mon("social_insurance", end="2024-09-30", category="pension", quantity=[69] * 3)
        return Scenario(rows, "2024-09-30")
    return Scenario(rows)


@case("R16_HEADCOUNT_DROP_12M")
def _r16(v: str) -> Scenario:
    rows = mon("social_insurance", category="pension",
               quantity=[100] * 12 + [76 if v == "quiet" else 74])
    if v == "clear":
        return _clear_next_month("social_insurance", rows, category="pension", quantity=100)
    return Scenario(rows)


@case("R17_SOCIAL_STOPPED")
def _r17(v: str) -> Scenario:
    return _stopped_case("social_insurance", "pension", 3, v, amount_fen=1e5, quantity=10)


@case("R18_POWER_DROP_YOY")
def _r18(v: str) -> Scenario:
    return _yoy_case("utility", "electricity", "quantity", 10_000, 0.51 if v == "quiet" else 0.49,
                     v)


@case("R19_UTILITY_ARREARS")
def _r19(v: str) -> Scenario:
    return _arrears_case("utility", "electricity", 0 if v == "quiet" else 1, v)


@case("R20_UTILITY_ARREARS_REPEAT")
def _r20(v: str) -> Scenario:
    arrears = [0.0] * 12
    for lag in ((10, 6, 2) if v != "quiet" else (10, 6)):
        arrears[11 - lag] = 5e4
    rows = mon("utility", category="electricity", amount_fen=[1e5] * 12, arrears_fen=arrears)
    if v == "clear":
        rows += mon("utility", end=NEXT_YEAR, category="electricity", amount_fen=[1e5] * 12,
                    arrears_fen=[0] * 12)
        return Scenario(rows, NEXT_YEAR)
    return Scenario(rows)


@case("R21_POWER_NEAR_ZERO")
def _r21(v: str) -> Scenario:
    low = 600 if v == "quiet" else 400
    rows = mon("utility", category="electricity", quantity=[10_000] * 12 + [low, low])
    if v == "clear":
        return _clear_next_month("utility", rows, category="electricity", quantity=10_000)
    return Scenario(rows)


@case("R22_OPERATIONS_HALTED")
def _r22(v: str) -> Scenario:
    end = "2024-03-31"
    rows = (mon("tax_monthly", end=end, category="vat", amount_fen=[1e5] * 12)
            + mon("social_insurance", end=end, category="pension", quantity=[10] * 12)
            + mon("utility", end=AS_OF if v == "quiet" else end, category="electricity",
                  quantity=[1000] * 12))
    if v == "clear":
        return _clear_next_month("tax_monthly", rows, category="vat", amount_fen=1e5)
    return Scenario(rows)


@case("R23_TAX_POWER_DIVERGE")
def _r23(v: str) -> Scenario:
    rows = (mon("tax_monthly", category="vat", amount_fen=[1e6] * 12 + [1.4e6] * 3)
            + mon("utility", category="electricity",
                  quantity=[10_000] * 12 + [7_500 if v == "quiet" else 6_000] * 3))
    if v == "clear":
        rows += (mon("tax_monthly", end="2024-09-30", category="vat", amount_fen=[1e6] * 3)
                 + mon("utility", end="2024-09-30", category="electricity",
                       quantity=[10_000] * 3))
        return Scenario(rows, "2024-09-30")
    return Scenario(rows)


@case("R64_TAX_UNDER_DECLARED")
def _r64(v: str) -> Scenario:
    # VAT falls by half (quiet: by a quarter) while power and insured headcount hold
    recent = 7.5e5 if v == "quiet" else 5e5
    rows = (mon("tax_monthly", category="vat", amount_fen=[1e6] * 12 + [recent] * 6)
            + mon("utility", category="electricity", quantity=[10_000] * 18)
            + mon("social_insurance", category="pension", quantity=[20] * 18))
    if v == "clear":  # declarations back in line for six months
        end = "2024-12-31"
        rows += (mon("tax_monthly", end=end, category="vat", amount_fen=[1e6] * 6)
                 + mon("utility", end=end, category="electricity", quantity=[10_000] * 6)
                 + mon("social_insurance", end=end, category="pension", quantity=[20] * 6))
        return Scenario(rows, end)
    return Scenario(rows)


@case("R24_EXPORT_COLLAPSE")
def _r24(v: str) -> Scenario:
    return _yoy_case("customs_export", None, "amount_fen", 1e7, 0.31 if v == "quiet" else 0.29,
                     v)


@case("R25_EXPORT_STOPPED")
def _r25(v: str) -> Scenario:
    return _stopped_case("customs_export", None, 6, v, amount_fen=1e7)


def _listing_case(kind: str, category: str | None, v: str, **cols: object) -> Scenario:
    day = "2024-07-15" if v == "quiet" else "2024-05-01"  # quiet: listed only after as_of
    end = "2024-07-10" if v == "clear" else None
    return Scenario([ev(kind, day, category=category, end_date=end, **cols)],
                    LATER if v == "clear" else AS_OF)


@case("R26_DISHONEST_DEBTOR")
def _r26(v: str) -> Scenario:
    return _listing_case("dishonest_debtor", None, v, amount_fen=5_000_000)


@case("R27_LAWSUIT_LARGE")
def _r27(v: str) -> Scenario:
    amount = 99_000_000 if v == "quiet" else 101_000_000  # revenue 1e9: 9.9 % vs 10.1 %
    rows = [statement(2023, "2024-05-10"),
            ev("court_case", "2024-05-20", category="defendant", amount_fen=amount,
               status="open", end_date="2024-07-10" if v == "clear" else None)]
    return Scenario(rows, LATER if v == "clear" else AS_OF)


def _count_case(kind: str, category: str | None, days: list[str], v: str,
                clear_as_of: str = NEXT_YEAR, **cols: object) -> Scenario:
    days = days[1:] if v == "quiet" else days
    rows = [ev(kind, d, category=category, **cols) for d in days]
    return Scenario(rows, clear_as_of if v == "clear" else AS_OF)


@case("R28_LAWSUITS_FREQUENT")
def _r28(v: str) -> Scenario:
    return _count_case("court_case", "defendant", ["2023-09-01", "2024-01-10", "2024-05-01"], v,
                       amount_fen=1_000_000)


@case("R29_OPEN_SUITS_HEAVY")
def _r29(v: str) -> Scenario:
    second = 240_000_000 if v == "quiet" else 260_000_000  # with 250m: 49 % vs 51 % of 1e9
    rows = [statement(2023, "2024-05-10"),
            ev("court_case", "2023-11-01", category="defendant", amount_fen=250_000_000),
            ev("court_case", "2024-02-01", category="defendant", amount_fen=second,
               end_date="2024-07-10" if v == "clear" else None)]
    return Scenario(rows, LATER if v == "clear" else AS_OF)


@case("R30_ASSET_SEIZURE")
def _r30(v: str) -> Scenario:
    return _listing_case("seizure_mortgage", "seizure", v, amount_fen=10_000_000)


@case("R31_COURT_ENFORCEMENT")
def _r31(v: str) -> Scenario:
    seized = "2023-12-01" if v == "quiet" else "2024-03-01"  # quiet: seized before the suit
    rows = [ev("court_case", "2024-01-10", category="defendant", amount_fen=1_000_000),
            ev("seizure_mortgage", seized, category="seizure", amount_fen=5_000_000,
               end_date="2024-07-10" if v == "clear" else None)]
    return Scenario(rows, LATER if v == "clear" else AS_OF)


@case("R32_MAJOR_PENALTY")
def _r32(v: str) -> Scenario:
    cat = "minor" if v == "quiet" else "major"
    return Scenario([ev("penalty", "2024-03-01", category=cat, amount_fen=10_000_000)],
                    NEXT_YEAR if v == "clear" else AS_OF)


@case("R33_PENALTIES_REPEATED")
def _r33(v: str) -> Scenario:
    return _count_case("penalty", "minor", ["2023-10-01", "2024-04-01"], v,
                       amount_fen=100_000)


@case("R34_PENALTY_NEW")
def _r34(v: str) -> Scenario:
    day = "2024-03-31" if v == "quiet" else "2024-04-02"  # 91 vs 89 days before as_of
    return Scenario([ev("penalty", day, category="minor", amount_fen=100_000)],
                    "2024-09-30" if v == "clear" else AS_OF)


@case("R35_BLACK_LIST")
def _r35(v: str) -> Scenario:
    return _listing_case("credit_list", "black", v)


@case("R36_RED_LIST_LOST")
def _r36(v: str) -> Scenario:
    end = "2023-12-31" if v == "quiet" else "2024-05-01"  # quiet: removed 182 days ago
    return Scenario([ev("credit_list", "2022-01-01", category="red", end_date=end)],
                    "2024-12-31" if v == "clear" else AS_OF)


@case("R37_ALL_ESTATE_MORTGAGED")
def _r37(v: str) -> Scenario:
    rows = [ev("real_estate", "2015-01-01", amount_fen=100_000_000, quantity=500.0),
            ev("seizure_mortgage", "2020-01-01", category="mortgage",
               amount_fen=99_000_000 if v == "quiet" else 100_000_000,
               end_date="2024-07-10" if v == "clear" else None)]
    return Scenario(rows, LATER if v == "clear" else AS_OF)


@case("R38_ESTATE_DISPOSED")
def _r38(v: str) -> Scenario:
    end = "2023-12-31" if v == "quiet" else "2024-05-01"
    return Scenario([ev("real_estate", "2015-01-01", amount_fen=100_000_000, end_date=end)],
                    "2024-12-31" if v == "clear" else AS_OF)


@case("R39_LEGAL_REP_CHANGED")
def _r39(v: str) -> Scenario:
    day = "2024-04-01" if v == "quiet" else "2024-04-02"  # 90 vs 89 days before as_of
    return Scenario([ev("registry_change", day, category="legal_rep")],
                    "2024-09-30" if v == "clear" else AS_OF)


@case("R40_LEGAL_REP_CHURN")
def _r40(v: str) -> Scenario:
    return _count_case("registry_change", "legal_rep", ["2023-01-01", "2024-03-01"], v,
                       clear_as_of="2026-06-30")


@case("R41_SHAREHOLDER_CHURN")
def _r41(v: str) -> Scenario:
    return _count_case("registry_change", "shareholder", ["2023-01-01", "2024-03-01"], v,
                       clear_as_of="2026-06-30")


@case("R42_ADDRESS_CHANGES")
def _r42(v: str) -> Scenario:
    return _count_case("registry_change", "address", ["2023-01-01", "2024-03-01"], v,
                       clear_as_of="2026-06-30")


@case("R43_CAPITAL_REDUCED")
def _r43(v: str) -> Scenario:
    amount = 10_000_000 if v == "quiet" else -10_000_000  # quiet: an increase
    return Scenario([ev("registry_change", "2024-05-01", category="capital", amount_fen=amount)],
                    "2025-01-31" if v == "clear" else AS_OF)


@case("R44_NAME_CHANGED")
def _r44(v: str) -> Scenario:
    day = "2024-01-02" if v == "quiet" else "2024-01-03"  # 180 vs 179 days before as_of
    return Scenario([ev("registry_change", day, category="name")],
                    "2024-12-31" if v == "clear" else AS_OF)


@case("R45_REGISTRY_CHURN")
def _r45(v: str) -> Scenario:
    days = ["2023-08-01", "2024-01-01", "2024-05-01"]
    cats = ["address", "shareholder", "name"]
    if v == "quiet":
        days, cats = days[1:], cats[1:]
    rows = [ev("registry_change", d, category=c) for d, c in zip(days, cats, strict=True)]
    return Scenario(rows, NEXT_YEAR if v == "clear" else AS_OF)


@case("R46_FIRM_STATUS_ABNORMAL")
def _r46(v: str) -> Scenario:
    return Scenario([], status="revoked" if v == "fire" else "active")


@case("R47_REP_CREDIT_LOW")
def _r47(v: str) -> Scenario:
    rows = [ev("personal_credit", "2024-03-31", quantity=550.0 if v == "quiet" else 549.0)]
    if v == "clear":
        return _clear_next_month("personal_credit", rows, quantity=600.0)
    return Scenario(rows)


@case("R48_REP_CREDIT_DROP")
def _r48(v: str) -> Scenario:
    rows = [ev("personal_credit", "2024-03-31", quantity=700.0),
            ev("personal_credit", "2024-06-30", quantity=621.0 if v == "quiet" else 620.0)]
    if v == "clear":
        return _clear_next_month("personal_credit", rows, quantity=700.0)
    return Scenario(rows)


def _statement_case(v: str, fire: dict[str, int], quiet: dict[str, int],
                    prior: dict[str, int] | None = None, prior_quiet: dict[str, int] | None = None,
                    cleared: dict[str, int] | None = None) -> Scenario:
    rows = []
    if prior is not None:
        rows.append(statement(2022, "2023-05-10",
                              **(prior_quiet if v == "quiet" and prior_quiet else prior)))
    rows.append(statement(2023, "2024-05-10", **(quiet if v == "quiet" else fire)))
    if v == "clear":
        rows.append(statement(2024, "2025-05-10", **(cleared or {})))
        return Scenario(rows, NEXT_YEAR)
    return Scenario(rows)


@case("R49_NEGATIVE_EQUITY")
def _r49(v: str) -> Scenario:
    return _statement_case(v, {"equity": -1}, {"equity": 0})


@case("R50_CURRENT_RATIO_LOW")
def _r50(v: str) -> Scenario:
    return _statement_case(v, {"current_assets": 99, "current_liabilities": 100},
                           {"current_assets": 100, "current_liabilities": 100})


@case("R51_LOSSES_TWO_YEARS")
def _r51(v: str) -> Scenario:
    return _statement_case(v, {"net_profit": -1}, {"net_profit": -1}, prior={"net_profit": -1},
                           prior_quiet={"net_profit": 0})


@case("R52_DEBT_RATIO_HIGH")
def _r52(v: str) -> Scenario:
    return _statement_case(v, {"total_liabilities": 86, "total_assets": 100},
                           {"total_liabilities": 85, "total_assets": 100})


@case("R53_REVENUE_DROP")
def _r53(v: str) -> Scenario:
    return _statement_case(v, {"revenue": 690}, {"revenue": 710}, prior={"revenue": 1000})


@case("R54_LOSS_ERODES_EQUITY")
def _r54(v: str) -> Scenario:
    return _statement_case(v, {"net_profit": -31, "equity": 100},
                           {"net_profit": -29, "equity": 100})


@case("R55_CASH_BURN_TWO_YEARS")
def _r55(v: str) -> Scenario:
    return _statement_case(v, {"operating_cash_flow": -1}, {"operating_cash_flow": -1},
                           prior={"operating_cash_flow": -1},
                           prior_quiet={"operating_cash_flow": 1})


@case("R56_STATEMENT_OVERDUE")
def _r56(v: str) -> Scenario:
    rows = [statement(2021, "2022-05-10"), statement(2022, "2023-05-10")]
    if v == "clear":
        return Scenario(rows + [statement(2023, "2024-09-10")], "2024-09-30")
    # the 2023 statement is due by 30 June 2024, plus 30 days' grace
    return Scenario(rows, "2024-07-30" if v == "quiet" else "2024-07-31")


def _scores(rows: list[tuple[str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame({"uscc": [A] * len(rows), "as_of": pd.to_datetime([r[0] for r in rows]),
                         "score": [r[1] for r in rows], "grade": [r[2] for r in rows]})


def _grade_case(v: str, before: tuple[float, str], fire: tuple[float, str],
                quiet: tuple[float, str]) -> Scenario:
    now = quiet if v == "quiet" else fire
    rows = [("2024-03-31", *before), ("2024-06-30", *now)]
    if v == "clear":
        rows.append(("2024-09-30", *now))
        return Scenario([], "2024-10-31", scores=_scores(rows))
    return Scenario([], scores=_scores(rows))


@case("R57_GRADE_DOWN_ONE")
def _r57(v: str) -> Scenario:
    return _grade_case(v, (700, "B"), (600, "C"), (650, "B"))


@case("R58_GRADE_DOWN_TWO")
def _r58(v: str) -> Scenario:
    return _grade_case(v, (800, "A"), (600, "C"), (700, "B"))


@case("R59_SCORE_DROP")
def _r59(v: str) -> Scenario:
    return _grade_case(v, (700, "B"), (640, "B"), (641, "B"))


def _guarantees(guarantor: str, guaranteed: str, amount: int = 50_000_000,
                end: str | None = "2026-01-01") -> pd.DataFrame:
    return pd.DataFrame({"record_key": [f"{guarantor}-{guaranteed}"],
                         "guarantor_uscc": [guarantor], "guaranteed_uscc": [guaranteed],
                         "amount_fen": [amount], "start_date": pd.to_datetime(["2023-01-01"]),
                         "end_date": pd.to_datetime([end])})


@case("R60_GUARANTEED_PARTNER_RED")
def _r60(v: str) -> Scenario:
    red = {B: "2024-07-15" if v == "quiet" else "2024-06-01"}  # quiet: red only after as_of
    g = _guarantees(A, B, end="2024-07-10" if v == "clear" else "2026-01-01")
    return Scenario([], LATER if v == "clear" else AS_OF, partners=RedPartners(red, g))


@case("R61_GUARANTEE_LOSS_BIG")
def _r61(v: str) -> Scenario:
    amount = 29_000_000 if v == "quiet" else 31_000_000  # equity 1e8: 29 % vs 31 %
    g = _guarantees(A, B, amount, end="2024-07-10" if v == "clear" else "2026-01-01")
    rows = [statement(2023, "2024-05-10", equity=100_000_000)]
    return Scenario(rows, LATER if v == "clear" else AS_OF,
                    partners=RedPartners({B: "2024-06-01"}, g))


@case("R62_GUARANTOR_RED")
def _r62(v: str) -> Scenario:
    red: dict[str, str | None] = {} if v in ("quiet", "clear") else {B: None}
    return Scenario([], LATER if v == "clear" else AS_OF,
                    partners=RedPartners(red, _guarantees(B, A)))


@case("R63_RELATED_FIRM_RED")
def _r63(v: str) -> Scenario:
    rel = pd.DataFrame({
        "uscc": [A, B], "person_id": ["P1", "P1"],
        "role": ["legal_rep", "supervisor" if v == "quiet" else "shareholder"],
        "start_date": pd.to_datetime(["2015-01-01", "2016-01-01"]),
        "end_date": pd.to_datetime(["2024-07-10" if v == "clear" else None, None]),
    })
    return Scenario([], LATER if v == "clear" else AS_OF,
                    partners=RedPartners({B: "2024-06-01"}, relations=rel))


# ---------------------------------------------------------------------------------------------
# catalogue


def test_catalogue_has_at_least_49_rules_with_both_languages() -> None:
    assert len(RULES) >= 49
    codes = [r["code"] for r in catalogue()]
    assert len(codes) == len(set(codes)) == len(RULES)
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for r in catalogue():
        assert re.fullmatch(r"R\d\d_[A-Z0-9_]+", r["code"]) and len(r["code"]) <= 30
        assert r["level"] in LEVELS and r["kind"] in KINDS
        for key in ("title", "message", "clear"):
            assert cjk.search(r[f"{key}_zh"]), (r["code"], key)
            assert r[f"{key}_en"] and not cjk.search(r[f"{key}_en"]), (r["code"], key)
        json.dumps(r, ensure_ascii=False)  # plain data for the API
    assert {r.level for r in RULES.values()} == {"red", "yellow", "blue"}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


def test_with_params_changes_a_threshold() -> None:
    strict = RULES["R07_TAX_ARREARS"].with_params(min_arrears_fen=10)
    scn = CASES["R07_TAX_ARREARS"]("fire")  # 1 fen overdue
    assert fires(scn, "R07_TAX_ARREARS") is not None
    assert not [f for f in scn.run([strict]) if f.uscc == A]
    with pytest.raises(ValueError, match="unknown params"):
        RULES["R07_TAX_ARREARS"].with_params(nonsense=1)


# ---------------------------------------------------------------------------------------------
# fires / stays quiet / clears, for every rule


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_fires_stays_quiet_and_clears(code: str) -> None:
    fired = fires(CASES[code]("fire"), code)
    assert fired is not None, f"{code} did not fire"
    assert fired.level == RULES[code].level and fired.kind == RULES[code].kind
    for text in (fired.message_zh, fired.message_en, fired.clear_zh, fired.clear_en):
        assert text and "{" not in text and "—" not in text, (code, text)
    json.dumps(fired.evidence)  # JSON-ready
    if RULES[code].sources[0] in RECORD_KINDS:
        assert fired.evidence["records"], f"{code} cites no record"
        for ref in fired.evidence["records"]:
            assert ref["kind"] in RECORD_KINDS and ref["event_date"] <= CASES[code]("fire").as_of

    assert fires(CASES[code]("quiet"), code) is None, f"{code} fired just short of threshold"

    clear = CASES[code]("clear")
    assert fires(clear, code) is None, f"{code} did not clear"
    open_warning = {"uscc": A, "rule_code": code, "level": fired.level,
                    "evidence": fired.evidence}
    plan = reconcile([open_warning], clear.run(), clear.as_of)
    assert [c.warning["rule_code"] for c in plan.to_close] == [code]
    assert (plan.to_close[0].reason_zh, plan.to_close[0].reason_en) == (fired.clear_zh,
                                                                         fired.clear_en)


def test_all_rules_together_on_all_cases() -> None:
    """With the whole catalogue running, each case still fires its own rule, and findings
    come out by firm, then in catalogue order."""
    order = list(RULES)
    for code, make in CASES.items():
        found = make("fire").run()
        assert code in {f.rule_code for f in found if f.uscc == A}
        assert [f.uscc for f in found] == sorted((f.uscc for f in found), key=[A, B].index)
        mine = [order.index(f.rule_code) for f in found if f.uscc == A]
        assert mine == sorted(mine)
    with pytest.raises(ValueError, match="rules: unknown rule code"):
        evaluate(make_records([]), firms_frame(), AS_OF, rules=["R99_NOTHING"])


# ---------------------------------------------------------------------------------------------
# the named examples, at their thresholds


def test_interest_overdue_threshold_and_ladder() -> None:
    def codes(days: float, interest: float) -> set[str]:
        return {f.rule_code for f in Scenario(_loan(days, interest)).run(
            ["R01_INTEREST_OVERDUE_30", "R02_LOAN_OVERDUE_90", "R03_LOAN_OVERDUE"])}
    assert codes(31, 1_000) == {"R01_INTEREST_OVERDUE_30"}
    assert codes(30, 1_000) == {"R03_LOAN_OVERDUE"}
    assert codes(45, 0) == {"R03_LOAN_OVERDUE"}  # principal only: not the interest rule
    assert codes(95, 1_000) == {"R01_INTEREST_OVERDUE_30", "R02_LOAN_OVERDUE_90"}
    assert codes(0, 0) == set()


def test_new_dishonest_listing_is_red_with_evidence() -> None:
    f = fires(CASES["R26_DISHONEST_DEBTOR"]("fire"), "R26_DISHONEST_DEBTOR")
    assert f is not None and f.level == "red"
    assert f.evidence["figures"]["latest"] == "2024-05-01"
    assert f.evidence["figures"]["amount_fen"] == 5_000_000
    assert f.first_seen == pd.Timestamp("2024-05-01").date()
    assert "失信被执行人" in f.message_zh and "50,000" in f.message_zh


def test_headcount_drop_over_30_percent_in_3_months() -> None:
    f = fires(CASES["R15_HEADCOUNT_DROP_3M"]("fire"), "R15_HEADCOUNT_DROP_3M")
    assert f is not None and f.level == "yellow"
    assert f.evidence["figures"]["headcount"] == 69
    assert f.evidence["figures"]["prior_headcount"] == 100
    assert f.evidence["figures"]["prior_month"] == "2024-03-31"


def test_electricity_seasonal_dip_does_not_fire() -> None:
    """A Spring Festival dip that recurs every year is no fall year on year."""
    season = [1.0, 0.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]  # Jan..Dec
    kwh = [10_000 * season[m.month - 1] for m in pd.date_range(end="2024-02-29", periods=26,
                                                               freq="ME")]
    rows = mon("utility", end="2024-02-29", category="electricity", quantity=kwh)
    assert fires(Scenario(rows, "2024-02-29"), "R18_POWER_DROP_YOY") is None
    # the same dip only this year is a fall
    kwh[-13] = 10_000
    kwh[-14] = 10_000
    kwh[-12] = 10_000
    rows = mon("utility", end="2024-02-29", category="electricity",
               quantity=kwh[:-3] + [1_500, 1_500, 3_000])
    assert fires(Scenario(rows, "2024-02-29"), "R18_POWER_DROP_YOY") is not None


def test_power_rule_waits_for_a_late_feed() -> None:
    """A month not yet delivered is no fall: the window ends at the latest month known."""
    rows = mon("utility", end="2024-04-30", category="electricity", quantity=[10_000] * 15)
    assert fires(Scenario(rows, AS_OF), "R18_POWER_DROP_YOY") is None


def test_lawsuit_over_10_percent_of_revenue_cites_case_and_statement() -> None:
    f = fires(CASES["R27_LAWSUIT_LARGE"]("fire"), "R27_LAWSUIT_LARGE")
    assert f is not None
    kinds = [r["kind"] for r in f.evidence["records"]]
    assert kinds == ["court_case", "financial_statement"]
    assert f.evidence["figures"]["share"] == pytest.approx(0.101)


def test_legal_rep_change_is_blue() -> None:
    f = fires(CASES["R39_LEGAL_REP_CHANGED"]("fire"), "R39_LEGAL_REP_CHANGED")
    assert f is not None and f.level == "blue"


def test_grade_fell_one_band_yellow_two_bands_red() -> None:
    one = CASES["R57_GRADE_DOWN_ONE"]("fire").run()
    assert {f.rule_code for f in one} == {"R57_GRADE_DOWN_ONE"}
    two = CASES["R58_GRADE_DOWN_TWO"]("fire").run()
    assert {(f.rule_code, f.level) for f in two} == {("R58_GRADE_DOWN_TWO", "red")}
    assert two[0].evidence["figures"]["prior_grade"] == "A"
    assert two[0].evidence["figures"]["grade"] == "C"
    # a score dated after as_of is not read
    later = pd.concat([_scores([("2024-03-31", 800, "A")]), _scores([("2024-07-31", 500, "D")])])
    assert Scenario([], scores=later).run() == []


def test_guaranteed_partner_turning_red_warns_the_guarantor_only() -> None:
    found = CASES["R60_GUARANTEED_PARTNER_RED"]("fire").run()
    assert {(f.uscc, f.rule_code) for f in found} == {(A, "R60_GUARANTEED_PARTNER_RED"),
                                                      }
    ref = found[0].evidence["records"][0]
    assert ref == {"kind": "guarantee", "role": "guarantor", "partner_uscc": B,
                   "amount_fen": 50_000_000, "partner_red_since": "2024-06-01",
                   "record_key": f"{A}-{B}"}


def test_record_ids_are_cited_when_the_frame_has_them() -> None:
    scn = CASES["R26_DISHONEST_DEBTOR"]("fire")
    records = make_records(scn.rows)
    records["record_id"] = [4711]
    found = evaluate(records, firms_frame(), AS_OF, rules=["R26_DISHONEST_DEBTOR"])
    assert found[0].evidence["records"][0]["record_id"] == 4711


def test_capital_reduction_from_before_and_after_attrs() -> None:
    row = ev("registry_change", "2024-05-01", category="capital",
             attrs={"capital_before_fen": 5_000_000, "capital_after_fen": 2_000_000})
    f = fires(Scenario([row]), "R43_CAPITAL_REDUCED")
    assert f is not None and f.evidence["figures"]["reduction_fen"] == 3_000_000


# ---------------------------------------------------------------------------------------------
# no look-ahead


def _all_fire_rows() -> tuple[list[dict[str, object]], list[str], pd.DataFrame, RedPartners]:
    """Every case that fires at AS_OF, each on a firm of its own (FIRM_B stays the partner),
    with the universe, score history and red partners."""
    rows: list[dict[str, object]] = []
    universe, scores, guarantees, relations, red = [B], [], [], [], {}
    for i, (_code, make) in enumerate(sorted(CASES.items())):
        scn = make("fire")
        if scn.as_of != AS_OF or scn.status != "active":
            continue
        u = f"91371000MA3D{i:06d}"
        universe.append(u)
        rows += [{**r, "uscc": u if r["uscc"] == A else r["uscc"]} for r in scn.rows]
        if scn.scores is not None:
            scores.append(scn.scores.assign(uscc=u))
        if scn.partners is not None:
            red.update(scn.partners.red)
            for frame, out in ((scn.partners.guarantees, guarantees),
                               (scn.partners.relations, relations)):
                if frame is not None:
                    out.append(frame.replace({A: u}))
    partners = RedPartners(red, pd.concat(guarantees), pd.concat(relations))
    return rows, universe, pd.concat(scores), partners


_FUTURE_KINDS = sorted(RECORD_KINDS)
_FUTURE_FIRMS = [A, B] + [f"91371000MA3D{i:06d}" for i in range(len(CASES))]


@st.composite
def future_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    out = []
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(_FUTURE_KINDS))
        cats = RECORD_KINDS[kind].categories
        day = pd.Timestamp(AS_OF) + pd.Timedelta(days=draw(st.integers(1, 900)))
        row = {"uscc": draw(st.sampled_from(_FUTURE_FIRMS)),
               "kind": kind, "event_date": day,
               "category": draw(st.sampled_from(cats)) if cats else None,
               "amount_fen": draw(st.integers(-10**9, 10**10)),
               "arrears_fen": draw(st.integers(0, 10**8)),
               "quantity": float(draw(st.integers(0, 10**5))),
               "days": draw(st.integers(0, 400)),
               "end_date": draw(st.sampled_from([None, day + pd.Timedelta(days=30)]))}
        if kind == "financial_statement":
            row["attrs"] = {"year": day.year - 1, **_STATEMENT_DEFAULTS, "equity": -5}
        out.append(row)
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(extra=future_rows())
def test_records_after_as_of_change_nothing(extra: list[dict[str, object]]) -> None:
    rows, universe, scores, partners = _all_fire_rows()
    before = evaluate(make_records(rows), None, AS_OF, firms_subset=universe, scores=scores,
                      red_partners=partners)
    assert {f.rule_code for f in before} == {
        code for code, make in CASES.items()
        if make("fire").as_of == AS_OF and make("fire").status == "active"}
    # Later facts: records, a collapse in every score, every firm red, new guarantees.
    late_scores = pd.concat([scores, scores.assign(as_of=pd.Timestamp("2024-08-31"), score=1.0,
                                                   grade="D")])
    red = {u: "2024-09-01" for u in universe} | dict(partners.red)
    later_edges = pd.DataFrame({"guarantor_uscc": universe[1:], "guaranteed_uscc": B,
                                "amount_fen": 10**9, "start_date": pd.Timestamp("2024-08-01"),
                                "end_date": pd.NaT})
    late_partners = RedPartners(red, pd.concat([partners.guarantees, later_edges]),
                                partners.relations)
    after = evaluate(make_records(rows + extra), None, AS_OF, firms_subset=universe,
                     scores=late_scores, red_partners=late_partners)
    assert after == before


# ---------------------------------------------------------------------------------------------
# incremental == full, and the synthetic county


@pytest.fixture(scope="module")
def county() -> dict[str, object]:
    from server.demo.synth import generate_region

    region = generate_region(4000, seed=11)
    as_of = pd.Timestamp(region.end)
    # A score history from the region's latent health, the last six month ends.
    h = region.health[:, -6:]
    score = np.clip(600 + 120 * h, 0, 1000)
    cuts = np.quantile(score[:, -1], [0.09, 0.48, 0.86])
    grade = np.array(list("DCBA"))[np.searchsorted(cuts, score)]
    n = len(region.firms)
    scores = pd.DataFrame({"uscc": np.repeat(region.firms["uscc"].to_numpy(), 6),
                           "as_of": np.tile(region.months[-6:], n), "score": score.ravel(),
                           "grade": grade.ravel()})
    first = evaluate(region.records, region.firms, as_of, scores=scores)
    partners = RedPartners(red_firms(first, as_of), region.guarantees, region.relations)
    full = evaluate(region.records, region.firms, as_of, scores=scores, red_partners=partners)
    return {"region": region, "as_of": as_of, "scores": scores, "partners": partners,
            "full": full}


def test_incremental_scan_equals_full_scan_for_its_firms(county: dict[str, object]) -> None:
    region, full = county["region"], county["full"]
    rng = np.random.default_rng(5)
    usccs = region.firms["uscc"].to_numpy()
    hit = {f.uscc for f in full}
    subset = sorted(set(rng.choice(usccs, 40, replace=False)) | set(list(hit)[:20]))
    expected = [f for f in full if f.uscc in set(subset)]
    assert len(expected) > 20
    kw = {"scores": county["scores"], "red_partners": county["partners"]}
    got = evaluate(region.records, region.firms, county["as_of"], firms_subset=subset, **kw)
    def key(f: Finding) -> tuple[str, str]:
        return f.key

    assert sorted(got, key=key) == sorted(expected, key=key)
    # as the server does it: only the touched firms' records loaded
    mine = region.records[region.records["uscc"].isin(subset)].reset_index(drop=True)
    got = evaluate(mine, region.firms, county["as_of"], firms_subset=subset, **kw)
    assert sorted(got, key=key) == sorted(expected, key=key)


def test_rules_fire_at_plausible_rates_on_a_synthetic_county(
        county: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    region, full = county["region"], county["full"]
    n = len(region.firms)
    frame = findings_frame(full)
    rates = (frame.groupby("rule_code")["uscc"].nunique() / n).reindex(list(RULES)).fillna(0.0)
    with capsys.disabled():
        print("\nfiring rate per rule on a 4,000-firm synthetic county:")
        print(rates.round(4).to_string())
    assert rates.max() < 0.25, rates.idxmax()
    assert (rates > 0).sum() >= 45
    red_share = frame.loc[frame["level"] == "red", "uscc"].nunique() / n
    assert 0.02 < red_share < 0.35
    for code in ("R01_INTEREST_OVERDUE_30", "R26_DISHONEST_DEBTOR", "R07_TAX_ARREARS",
                 "R27_LAWSUIT_LARGE", "R39_LEGAL_REP_CHANGED", "R57_GRADE_DOWN_ONE",
                 "R60_GUARANTEED_PARTNER_RED"):
        assert rates[code] > 0, code
    for f in full[:: max(1, len(full) // 500)]:
        assert "{" not in f.message_zh + f.message_en + f.clear_zh + f.clear_en
        json.dumps(f.evidence)


# ---------------------------------------------------------------------------------------------
# reconciliation


def _finding(uscc: str, code: str, figure: int = 1) -> Finding:
    rule = RULES[code]
    return Finding(uscc, code, rule.level, rule.kind, {"figures": {"x": figure}, "records": []},
                   "中", "en", "清", "clear")


def test_reconcile_raises_updates_and_closes() -> None:
    open_ = [
        {"id": 1, "uscc": A, "rule_code": "R07_TAX_ARREARS", "level": "yellow",
         "evidence": {"figures": {"x": 1}, "records": []}},  # still firing, same evidence
        {"id": 2, "uscc": A, "rule_code": "R13_SOCIAL_ARREARS", "level": "yellow",
         "evidence": json.dumps({"figures": {"x": 1}, "records": []})},  # evidence changes
        {"id": 3, "uscc": B, "rule_code": "R26_DISHONEST_DEBTOR", "level": "red",
         "evidence": {}},  # cleared
        {"id": 4, "uscc": B, "rule_code": "C_DEBTRANK", "level": "red"},  # not ours
    ]
    findings = [_finding(A, "R07_TAX_ARREARS"), _finding(A, "R13_SOCIAL_ARREARS", 2),
                _finding(B, "R35_BLACK_LIST")]
    raise_, update, close = reconcile(open_, findings, AS_OF)
    assert [f.key for f in raise_] == [(B, "R35_BLACK_LIST")]
    assert [(u.warning["id"], u.changed) for u in update] == [(1, False), (2, True)]
    assert [(c.warning["id"], str(c.closed_at)) for c in close] == [(3, AS_OF)]
    assert close[0].reason_zh == "全部失信记录被移除"


def test_reconcile_runs_twice_to_the_same_state() -> None:
    findings = [_finding(A, "R07_TAX_ARREARS")]
    first = reconcile([], findings, AS_OF)
    stored = [{"uscc": f.uscc, "rule_code": f.rule_code, "level": f.level,
               "evidence": f.evidence} for f in first.to_raise]
    second = reconcile(stored, findings, AS_OF)
    assert second.to_raise == [] and second.to_close == []
    assert [u.changed for u in second.to_update] == [False]


def test_reconcile_only_closes_inside_the_scope() -> None:
    open_ = [{"uscc": A, "rule_code": "R07_TAX_ARREARS"},
             {"uscc": B, "rule_code": "R07_TAX_ARREARS"},
             {"uscc": A, "rule_code": "R57_GRADE_DOWN_ONE"},
             {"uscc": A, "rule_code": "R07_TAX_ARREARS"}]  # a duplicate
    plan = reconcile(open_, [], AS_OF, firms=[A],
                     rules=runnable(scores=False, red_partners=False))
    assert [(c.warning["uscc"], c.warning["rule_code"], c.reason_en) for c in plan.to_close] == [
        (A, "R07_TAX_ARREARS", "No tax overdue in the latest month"),
        (A, "R07_TAX_ARREARS", "Duplicate warning")]
    assert "R57_GRADE_DOWN_ONE" not in runnable(scores=False, red_partners=True)
    assert "R60_GUARANTEED_PARTNER_RED" not in runnable(scores=True, red_partners=False)


def test_reconcile_accepts_objects_and_frames() -> None:
    @dataclass
    class Row:
        uscc: str
        rule_code: str

    finding = _finding(A, "R07_TAX_ARREARS")
    plan = reconcile([Row(A, "R07_TAX_ARREARS")], [finding], AS_OF)
    assert plan.to_update[0].changed  # nothing stored to compare: refresh
    frame = pd.DataFrame({"uscc": [A], "rule_code": ["R07_TAX_ARREARS"]})
    assert reconcile(frame, [], AS_OF).to_close[0].warning["uscc"] == A


def test_red_firms_leave_out_contagion_and_keep_the_earliest_date() -> None:
    f1 = replace(_finding(A, "R26_DISHONEST_DEBTOR"), first_seen=pd.Timestamp("2024-05-01").date())
    f2 = _finding(A, "R35_BLACK_LIST")
    f3 = _finding(B, "R61_GUARANTEE_LOSS_BIG")
    f4 = _finding(B, "R07_TAX_ARREARS")
    assert red_firms([f1, f2, f3, f4], AS_OF) == {A: pd.Timestamp("2024-05-01").date()}
