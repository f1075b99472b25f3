"""``xinbao generate --density``: the monthly sum feeds written in parts that add up exactly to
the region's monthly rows, the other feeds and the default output left as they were."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from scoring.records import RECORD_KINDS
from server.cli import main
from server.demo.synth import PART_WEIGHTS, generate_region, plan_density, write_feeds
from server.ingest.sources import SOURCES, RowValidator

FIRMS = 60
SEED = 3
DENSITY = 1000
SPLIT = tuple(PART_WEIGHTS)  # tax_monthly, utility, customs_export
GROUP = ["uscc", "month", "category", "meter_id"]


def _generate(out: Path, *extra: str) -> dict:
    result = CliRunner().invoke(main, ["generate", "--firms", str(FIRMS), "--seed", str(SEED),
                                       "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("base")
    _generate(out)
    return out


@pytest.fixture(scope="module")
def dense(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dense")
    return out, _generate(out, "--density", str(DENSITY))


def _read(path: Path) -> pd.DataFrame:
    """A feed file with every cell as text (empty cells as ""), and the columns the checks use:
    money in integer fen, the quantity as a float, the month of the event date."""
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("amount_yuan", "arrears_yuan"):
        if col in df:
            fen = [None if v == "" else int(Decimal(v) * 100) for v in df[col]]
            df[col.replace("_yuan", "_fen")] = pd.array(fen, dtype="Int64")
    if "quantity" in df:
        df["qty"] = pd.to_numeric(df["quantity"])
    for col in ("category", "meter_id"):
        if col not in df:
            df[col] = ""
    df["day"] = pd.to_datetime(df["event_date"])
    df["month"] = df["day"].dt.to_period("M")
    return df


def _by_base_row(parts: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Each base row beside the sums and date range of its parts (joined on GROUP)."""
    agg = {"n": ("record_key", "size"), "first_day": ("day", "min"), "last_day": ("day", "max")}
    for col in ("amount_fen", "arrears_fen"):
        if col in parts:
            agg[col] = (col, lambda s: s.sum(min_count=1))
    if "qty" in parts:
        agg["qty"] = ("qty", "sum")
    summed = parts.groupby(GROUP, sort=False).agg(**agg).reset_index()
    assert not base.duplicated(GROUP).any()  # one base row per firm, month, category and meter
    return base.merge(summed, on=GROUP, how="outer", suffixes=("", "_parts"), indicator=True)


@pytest.mark.parametrize("source", SPLIT)
def test_the_parts_add_up_to_each_monthly_row_exactly(base_dir: Path, dense: tuple[Path, dict],
                                                      source: str) -> None:
    base = _read(base_dir / f"{source}.csv")
    parts = _read(dense[0] / f"{source}.csv")
    assert len(base) > 0 and len(parts) > 2 * len(base)
    both = _by_base_row(parts, base)
    assert (both["_merge"] == "both").all()  # no base row without parts, no part without a row
    for col in ("amount_fen", "arrears_fen"):
        if col in base:
            assert both[col].isna().equals(both[f"{col}_parts"].isna())
            known = both[col].notna()
            assert (both.loc[known, col] == both.loc[known, f"{col}_parts"]).all(), col
            assert (parts[col].dropna() >= 0).all(), col
    if "qty" in base:
        diff = (both["qty_parts"] - both["qty"]).abs()
        assert (diff <= 1e-9 * both["qty"].abs().clip(lower=1.0)).all()
        # cut in whole units of the row's rounding: electricity whole kWh, water and gas 0.1 m³
        kwh = parts.loc[parts["category"] == "electricity", "quantity"]
        assert not kwh.str.contains(r"\.").any()
        assert parts["quantity"].str.fullmatch(r"\d+(\.\d)?").all()


@pytest.mark.parametrize("source", SPLIT)
def test_each_part_keeps_its_rows_fields_and_falls_in_its_month(
        base_dir: Path, dense: tuple[Path, dict], source: str) -> None:
    base = _read(base_dir / f"{source}.csv")
    parts = _read(dense[0] / f"{source}.csv")
    assert parts["record_key"].str.fullmatch(r".+#p\d+").all()
    stem = parts["record_key"].str.replace(r"#p\d+$", "", regex=True)
    joined = parts.assign(stem=stem).merge(base, left_on="stem", right_on="record_key",
                                           how="left", suffixes=("", "_base"), indicator=True)
    assert (joined["_merge"] == "both").all()  # every part's key is its base row's plus #p<j>
    for col in ("uscc", "category", "meter_id", "supply_address", "status", "month"):
        if col in base:
            assert (joined[col] == joined[f"{col}_base"]).all(), col
    assert (joined["day"] <= joined["day_base"]).all()  # never after the month end of its row
    # part numbers run 1..k within each base row
    number = parts["record_key"].str.extract(r"#p(\d+)$")[0].astype(int)
    counts = number.groupby(stem, sort=False).agg(["min", "max", "size"])
    assert (counts["min"] == 1).all() and (counts["max"] == counts["size"]).all()


def test_keys_are_unique_per_firm_and_source(dense: tuple[Path, dict]) -> None:
    for source in RECORD_KINDS:
        df = pd.read_csv(dense[0] / f"{source}.csv", dtype=str, keep_default_na=False)
        assert not df.duplicated(["uscc", "record_key"]).any(), source


def test_the_region_reaches_the_requested_density(dense: tuple[Path, dict]) -> None:
    out, summary = dense
    written = sum(len(pd.read_csv(out / f"{s}.csv", usecols=[0])) for s in RECORD_KINDS)
    assert summary["records"] == written
    assert summary["records_per_firm"] == pytest.approx(written / FIRMS, abs=0.05)
    assert abs(summary["records_per_firm"] - DENSITY) <= 0.15 * DENSITY


def test_the_other_feeds_are_unchanged(base_dir: Path, dense: tuple[Path, dict]) -> None:
    for path in sorted(base_dir.iterdir()):
        if path.stem not in SPLIT:
            assert path.read_bytes() == (dense[0] / path.name).read_bytes(), path.name


def test_without_density_the_files_are_the_regions_rows(base_dir: Path, tmp_path: Path) -> None:
    """The default output is today's: byte for byte what write_feeds gives the region, one
    row per monthly record, dated at its month end."""
    region = generate_region(FIRMS, SEED)
    paths = write_feeds(region, tmp_path)
    for source, path in paths.items():
        assert path.read_bytes() == (base_dir / path.name).read_bytes(), source
    for source in SPLIT:
        df = _read(base_dir / f"{source}.csv")
        assert len(df) == (region.records["kind"] == source).sum()
        assert not df["record_key"].str.contains("#").any()
        assert (df["day"] == df["day"] + pd.offsets.MonthEnd(0)).all()


def test_the_same_seed_gives_the_same_parts(dense: tuple[Path, dict], tmp_path: Path) -> None:
    _generate(tmp_path, "--density", str(DENSITY))
    for source in SPLIT:
        assert (tmp_path / f"{source}.csv").read_bytes() == \
            (dense[0] / f"{source}.csv").read_bytes(), source


def test_the_ingestion_accepts_the_parts(dense: tuple[Path, dict]) -> None:
    for source in SPLIT:
        df = pd.read_csv(dense[0] / f"{source}.csv", dtype=str, keep_default_na=False)
        validator = RowValidator(SOURCES[source], today=dt.date.today())
        cols = {c: df[c].tolist() for c in df.columns}
        _, _, rejections = validator.validate_columns(list(range(1, len(df) + 1)), cols,
                                                      set(df.columns))
        assert rejections == [], (source, rejections[:3])


def test_a_density_below_the_regions_own_is_refused(tmp_path: Path) -> None:
    region = generate_region(FIRMS, SEED)
    with pytest.raises(ValueError, match="records per firm"):
        plan_density(region, 50)
    result = CliRunner().invoke(main, ["generate", "--firms", str(FIRMS), "--out",
                                       str(tmp_path), "--density", "50"])
    assert result.exit_code != 0 and "--density" in result.output
