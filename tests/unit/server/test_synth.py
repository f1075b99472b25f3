"""The synthetic demo region: deterministic, valid, believable, and written as real feeds."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.records import FIRM_COLUMNS, RECORD_COLUMNS, RECORD_KINDS, STATEMENT_ITEMS
from server.demo.synth import (
    FEED_SOURCES,
    Region,
    feed_columns,
    generate_region,
    write_feeds,
)
from server.uscc import is_valid_uscc

END = dt.date(2025, 10, 31)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "feeds.md"
MONEY = re.compile(r"^\d+\.\d{2}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def region() -> Region:
    return generate_region(2000, seed=42, end=END)


@pytest.fixture(scope="module")
def feeds(region: Region, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_feeds(region, tmp_path_factory.mktemp("feeds"))


def _documented_fields() -> dict[str, list[str]]:
    """Field names per table of docs/feeds.md: registry sources and the shared record fields."""
    tables: dict[str, list[str]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        head = re.match(r"^`(\w+)` —", line)
        if head:
            current = head.group(1)
        elif line.startswith("All record sources share these fields"):
            current = "records"
        elif line.startswith("| ") and current and not line.startswith("| field"):
            tables.setdefault(current, []).append(line.split("|")[1].strip())
        elif not line.strip().startswith("|") and line.strip() and current in tables:
            current = None
    return tables


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Frames equal cell for cell (hashing is much faster than assert_frame_equal here)."""
    assert list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)
    plain = [c for c in a.columns if c != "attrs"]
    assert pd.util.hash_pandas_object(a[plain]).equals(pd.util.hash_pandas_object(b[plain]))
    if "attrs" in a.columns:
        assert a["attrs"].tolist() == b["attrs"].tolist()


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_identical_region(region: Region) -> None:
    again = generate_region(2000, seed=42, end=END)
    for name in ("firms", "records", "relations", "guarantees"):
        _assert_same(getattr(region, name), getattr(again, name))
    pd.testing.assert_series_equal(region.defaults, again.defaults)


def test_different_seed_gives_different_region() -> None:
    a = generate_region(400, seed=1, end=END)
    b = generate_region(400, seed=2, end=END)
    assert not a.firms["uscc"].equals(b.firms["uscc"])
    assert len(a.records) != len(b.records) or not a.records["amount_fen"].equals(
        b.records["amount_fen"])


def test_default_end_is_last_complete_month() -> None:
    r = generate_region(50, seed=3)
    today = dt.datetime.now(dt.UTC).date()
    assert r.end == today.replace(day=1) - dt.timedelta(days=1)
    assert len(r.months) == 36 and r.months[-1].date() == r.end


# --- firms ------------------------------------------------------------------------------------


def test_firms_have_valid_unique_codes_and_names(region: Region) -> None:
    firms = region.firms
    assert list(firms.columns) == [*FIRM_COLUMNS, "latent_health"]
    assert firms["uscc"].is_unique and firms["name"].is_unique
    assert all(is_valid_uscc(u) for u in firms["uscc"])
    assert firms["name"].str.endswith("公司").all()
    assert set(firms["status"]) <= {"active", "suspended", "revoked", "cancelled"}
    assert (firms["status"] != "active").sum() > 0
    assert (firms["founded_on"] <= pd.Timestamp(END)).all()
    assert (firms["industry_division"].str.fullmatch(r"\d\d")).all()


def test_size_and_industry_shares_look_like_a_manufacturing_county(region: Region) -> None:
    size = region.firms["size_class"].value_counts(normalize=True)
    for cls, share in {"micro": 0.70, "small": 0.22, "medium": 0.07, "large": 0.01}.items():
        assert abs(size.get(cls, 0.0) - share) < max(0.03, share * 0.5), cls
    section = region.firms["industry_section"].value_counts(normalize=True)
    assert abs(section["C"] - 0.30) < 0.05
    assert abs(section["F"] - 0.30) < 0.05
    assert abs(section["E"] - 0.08) < 0.03
    assert region.firms["town"].nunique() == 12


def test_demo_firm_is_a_healthy_small_manufacturer_with_full_data(region: Region) -> None:
    demo = region.firms.iloc[0]
    assert (demo["industry_section"], demo["size_class"], demo["status"]) == ("C", "small", "active")
    assert demo["latent_health"] > 0
    kinds = set(region.records.loc[region.records["uscc"] == demo["uscc"], "kind"])
    assert {"tax_monthly", "social_insurance", "utility", "bank_loan", "financial_statement",
            "customs_export", "personal_credit", "real_estate"} <= kinds
    assert pd.isna(region.defaults[demo["uscc"]])


# --- records ----------------------------------------------------------------------------------


def test_records_follow_the_contract(region: Region) -> None:
    rec = region.records
    assert tuple(rec.columns) == RECORD_COLUMNS
    assert set(rec["kind"]) == set(RECORD_KINDS)
    assert str(rec["event_date"].dtype).startswith("datetime64")
    assert str(rec["end_date"].dtype).startswith("datetime64")
    for col in ("amount_fen", "arrears_fen", "days"):
        assert str(rec[col].dtype) == "Int64"
    assert rec["quantity"].dtype == np.float64
    assert set(rec["uscc"]) <= set(region.firms["uscc"])
    assert (rec["amount_fen"].dropna() >= 0).all()
    assert (rec["arrears_fen"].dropna() >= 0).all()


def test_no_record_after_end_and_ends_follow_starts(region: Region) -> None:
    rec = region.records
    end = pd.Timestamp(END)
    assert (rec["event_date"] <= end).all()
    assert (rec["event_date"] >= pd.Timestamp("1949-10-01")).all()
    ended = rec["end_date"].notna()
    assert (rec.loc[ended, "end_date"] >= rec.loc[ended, "event_date"]).all()
    assert (rec.loc[ended, "end_date"] <= end).all()
    no_end = [k for k, v in RECORD_KINDS.items() if not v.has_end]
    assert rec.loc[rec["kind"].isin(no_end), "end_date"].isna().all()


def test_categories_statuses_and_attrs_fit_their_kind(region: Region) -> None:
    rec = region.records
    for code, kind in RECORD_KINDS.items():
        rows = rec[rec["kind"] == code]
        if kind.categories:
            assert set(rows["category"]) <= set(kind.categories), code
        else:
            assert rows["category"].isna().all(), code
        if kind.statuses:
            assert set(rows["status"]) <= set(kind.statuses), code
        else:
            assert rows["status"].isna().all(), code
        if kind.monthly:
            assert rows["event_date"].dt.is_month_end.all(), code
            key = ["uscc", "category", "event_date"]
            assert not rows[key].fillna("").duplicated().any(), code
    statements = rec[rec["kind"] == "financial_statement"]
    assert statements["attrs"].map(lambda a: set(a) == set(STATEMENT_ITEMS)).all()
    assert (statements["amount_fen"] == statements["attrs"].map(lambda a: a["revenue"])).all()
    power = (rec["kind"] == "utility") & (rec["category"] == "electricity")
    assert rec.loc[power, "attrs"].map(lambda a: set(a) == {"meter_id"} and bool(a["meter_id"])).all()
    assert rec.loc[(rec["kind"] != "financial_statement") & ~power, "attrs"].isna().all()
    credit = rec.loc[rec["kind"] == "personal_credit", "quantity"]
    assert credit.between(350, 950).all()
    open_cases = rec[(rec["kind"] == "court_case") & (rec["status"] == "open")]
    assert open_cases["end_date"].isna().all()


def test_electricity_has_the_spring_festival_dip(region: Region) -> None:
    rec = region.records
    power = rec[(rec["kind"] == "utility") & (rec["category"] == "electricity")]
    by_month = power.groupby(power["event_date"].dt.month)["quantity"].mean()
    assert by_month[2] < 0.85 * by_month[[3, 4, 5]].mean()
    assert by_month[[7, 8]].mean() > by_month[[4, 5]].mean()


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_follow_latent_health(region: Region) -> None:
    defaulted = region.defaults.notna().to_numpy()
    health = region.firms["latent_health"].to_numpy()
    assert defaulted.sum() >= 20
    assert health[defaulted].mean() < health[~defaulted].mean() - 0.7

    rec = region.records
    loans = rec[rec["kind"] == "bank_loan"]
    borrowers = pd.Index(loans["uscc"].unique())
    first = loans[loans["days"] >= 90].groupby("uscc")["event_date"].min()
    pd.testing.assert_series_equal(
        region.defaults.dropna().sort_index(), first.sort_index().astype("datetime64[ns]"),
        check_names=False)
    asof = region.months[-13]
    when = region.defaults.reindex(borrowers)
    at_risk = ~(when <= asof)
    rate = (when > asof).sum() / at_risk.sum()
    assert 0.02 <= rate <= 0.09


def test_overdue_days_climb_into_default(region: Region) -> None:
    rec = region.records
    loans = rec[rec["kind"] == "bank_loan"].set_index(["uscc", "event_date"])["days"]
    for uscc, day in region.defaults.dropna().head(20).items():
        firm = loans.loc[uscc]
        before = firm[firm.index < day]
        assert firm.loc[day] >= 90
        assert before.tail(1).max() >= 60 or len(before) == 0


# --- guarantees and relations -----------------------------------------------------------------


def test_guarantees_form_chains_and_circles(region: Region) -> None:
    g = region.guarantees
    assert list(g.columns) == ["record_key", "guarantor_uscc", "guaranteed_uscc", "amount_fen",
                               "start_date", "end_date"]
    assert (g["guarantor_uscc"] != g["guaranteed_uscc"]).all()
    assert g["record_key"].is_unique
    assert (g["amount_fen"] > 0).all() and (g["end_date"] >= g["start_date"]).all()
    borrowers = region.records.loc[region.records["kind"] == "bank_loan", "uscc"].nunique()
    assert 1.3 <= len(g) / borrowers <= 3.0

    edges = set(zip(g["guarantor_uscc"], g["guaranteed_uscc"], strict=True))
    assert any((b, a) in edges for a, b in edges), "no mutual pair"
    assert _has_cycle_of_three_or_more(edges), "no guarantee circle"


def _has_cycle_of_three_or_more(edges: set[tuple[str, str]]) -> bool:
    """Depth-first search for a directed cycle that is not just a mutual pair."""
    out: dict[str, list[str]] = {}
    for a, b in edges:
        if (b, a) not in edges:  # ignore mutual pairs so a found cycle has 3+ firms
            out.setdefault(a, []).append(b)
    state: dict[str, int] = {}
    for root in out:
        if root in state:
            continue
        stack = [(root, iter(out.get(root, ())))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                return True
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(out.get(child, ()))))
    return False


def test_relations_give_each_firm_one_current_legal_rep(region: Region) -> None:
    rel = region.relations
    assert rel["record_key"].is_unique
    current = rel[(rel["role"] == "legal_rep") & rel["end_date"].isna()]
    assert current["uscc"].is_unique and set(current["uscc"]) == set(region.firms["uscc"])
    assert rel["person_id"].str.fullmatch(r"\d{17}[\dX]").all()
    shares = rel[rel["role"] == "shareholder"].groupby("uscc")["share_pct"].sum()
    assert shares.between(99.5, 100.5).mean() > 0.99
    per_person = current.groupby("person_id")["uscc"].nunique()
    assert (per_person > 1).sum() > 10, "no person runs several firms"


# --- feeds ------------------------------------------------------------------------------------


def test_feed_headers_match_the_documented_formats(feeds: dict[str, Path]) -> None:
    documented = _documented_fields()
    assert list(feeds) == list(FEED_SOURCES)
    for source in ("firms", "relations", "guarantees"):
        assert _header(feeds[source]) == documented[source], source
    for source in RECORD_KINDS:
        header = _header(feeds[source])
        assert header == list(feed_columns(source))
        assert header[:3] == ["record_key", "uscc", "event_date"]
        extra = set(STATEMENT_ITEMS) if source == "financial_statement" else set()
        assert set(header) <= set(documented["records"]) | extra, source


def test_feed_values_are_well_formed_and_keys_unique(region: Region,
                                                     feeds: dict[str, Path]) -> None:
    firms = _read_csv(feeds["firms"])
    assert "latent_health" not in firms.columns
    assert firms["uscc"].tolist() == region.firms["uscc"].tolist()
    total = 0
    for source, path in feeds.items():
        frame = _read_csv(path)
        if "record_key" in frame.columns:
            assert frame["record_key"].is_unique, source
        for name, col in frame.items():
            filled = col[col != ""]
            if name.endswith("_yuan"):
                assert filled.str.fullmatch(MONEY.pattern).all(), (source, name)
            if name.endswith("_date") or name == "founded_on":
                assert filled.str.fullmatch(DATE.pattern).all(), (source, name)
        if source in RECORD_KINDS:
            total += len(frame)
    assert total == len(region.records)


def test_record_keys_are_stable_for_a_seed(tmp_path: Path) -> None:
    a = write_feeds(generate_region(300, seed=5, end=END), tmp_path / "a")
    b = write_feeds(generate_region(300, seed=5, end=END), tmp_path / "b")
    for source in FEED_SOURCES:
        assert a[source].read_bytes() == b[source].read_bytes(), source


def test_jsonl_feeds_carry_the_same_rows(tmp_path: Path) -> None:
    region = generate_region(200, seed=9, end=END)
    paths = write_feeds(region, tmp_path, fmt="jsonl")
    for source, path in paths.items():
        assert path.suffix == ".jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        objs = [json.loads(line) for line in lines]
        if objs:
            assert list(objs[0]) == list(feed_columns(source)), source
    stmt = [json.loads(x) for x in paths["financial_statement"].read_text("utf-8").splitlines()]
    assert isinstance(stmt[0]["year"], int) and isinstance(stmt[0]["revenue"], float)
    with pytest.raises(ValueError):
        write_feeds(region, tmp_path, fmt="xml")


@pytest.mark.parametrize("seed", [42, 3, 11])
def test_nothing_happens_to_a_firm_before_it_was_founded(seed: int) -> None:
    # Seed 42 at 300 firms once dated a legal-representative change before the founding day,
    # which the relations feed rightly refused (end before start).
    small = generate_region(300, seed=seed)
    founded = small.firms.set_index("uscc")["founded_on"]
    rec = small.records
    assert (rec["event_date"].to_numpy() >= founded.reindex(rec["uscc"]).to_numpy()).all()
    rel = small.relations.dropna(subset=["end_date"])
    assert (rel["end_date"] >= rel["start_date"]).all()
