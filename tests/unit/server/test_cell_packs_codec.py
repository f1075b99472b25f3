"""``server.scores.cell_packs``: a firm's cells encoded into one pack and decoded back are the
same cells, bit for bit, in any mix of firms, keys, months and missing maxima, however the
packs are cut into fetches."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.feature_store import CELL_COLUMNS, CELL_KEY


def _cells(seed: int, firms: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for f in range(firms):
        uscc = f"91{f:016d}"
        keys = [("tax_monthly", "vat", ""), ("tax_monthly", "income", ""), ("utility", "electricity", f"M{f % 3}"),
                ("utility", "electricity", f"M{f % 3 + 1}"), ("social_insurance", "pension", "")]
        for kind, category, meter in [keys[i] for i in sorted(rng.choice(5, rng.integers(1, 6), replace=False))]:
            for month in sorted(rng.choice(np.arange(600, 640), rng.integers(1, 8), replace=False)):
                row = {"uscc": uscc, "kind": kind, "category": category, "meter": meter, "month": int(month),
                       "rows": int(rng.integers(1, 5)),
                       "first_event": pd.Timestamp("1970-01-01") + pd.DateOffset(months=int(month))
                       + pd.Timedelta(days=int(rng.integers(0, 28)))}
                for c in CELL_COLUMNS[7:]:
                    if c.endswith("_n"):
                        row[c] = int(rng.integers(0, 3))
                    elif c.endswith("_max") and rng.random() < 0.3:
                        row[c] = np.nan  # no value to take the maximum of
                    else:
                        row[c] = float(rng.normal(1e6, 1e5)) if "fen" in c else float(rng.random() * 1e3)
                rows.append(row)
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=seed, ignore_index=True)  # any stored order
    out = pd.DataFrame({c: frame[c] for c in CELL_COLUMNS})
    for c in ("uscc", "kind", "category", "meter"):
        out[c] = out[c].astype(object)
    out["first_event"] = out["first_event"].astype("datetime64[ns]")
    for c in CELL_COLUMNS[7:]:
        out[c] = out[c].astype(np.int64 if c.endswith("_n") else float)
    return out


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(CELL_KEY), ignore_index=True)


def test_packs_decode_to_the_cells_they_were_made_of():
    from server.scores.cell_packs import PackedCells, encode

    cells = _cells(7, 40)
    packs = encode(cells)
    assert sorted(p[0] for p in packs) == sorted(set(cells["uscc"]))  # one pack per firm
    assert sum(p[1] for p in packs) == len(cells)
    one = next(p for p in packs if len(p[2]) > 1)
    assert len(one[2]) == len(one[3]) == len(one[4]) == len(set(zip(one[2], one[3], one[4], strict=True)))
    for cut in (1, 3, len(packs)):  # the fetches' sizes
        decoded = PackedCells(len(cells))
        for i in range(0, len(packs), cut):
            decoded.add(packs[i:i + cut])
        got = decoded.frame()
        pd.testing.assert_frame_equal(_sorted(got), _sorted(cells), check_exact=True, check_dtype=True)
        # the texts are shared objects, as the cells' own read gives them (codes by identity)
        assert len({id(v) for v in got["kind"]}) == got["kind"].nunique()


def test_nothing_packed_decodes_to_an_empty_frame_of_the_same_columns():
    from server.scores.cell_packs import PackedCells, encode

    cells = _cells(3, 2).iloc[:0]
    assert encode(cells) == []
    got = PackedCells(0).frame()
    assert list(got.columns) == list(CELL_COLUMNS) and got.empty
    assert dict(got.dtypes.astype(str)) == dict(cells.dtypes.astype(str))


def test_the_codes_handed_over_are_pandas_own():
    """The USCCs', kinds' and categories' codes the decoding hands to ``scoring._codes`` are what
    ``pd.factorize`` gives the decoded columns, however the packs are cut into fetches and
    with packs of no cells among them; the columns and codes are read-only after."""
    from scoring._codes import _remembered, factorize_objects
    from server.scores.cell_packs import PackedCells, encode

    cells = _cells(11, 60)
    packs = encode(cells)
    import pyarrow as pa

    from server.scores.cell_packs import CODEC

    empty = ("91" + "9" * 16, 0, [], [], [], pa.compress(b"", codec=CODEC, asbytes=True))
    packs = [*packs[:5], empty, *packs[5:]]
    for cut in (1, 4, 7, len(packs)):
        decoded = PackedCells(len(cells) + 10)  # the planned count may be larger than the cells
        for i in range(0, len(packs), cut):
            decoded.add(packs[i:i + cut])
        got = decoded.frame()
        for c in ("uscc", "kind", "category"):
            remembered = _remembered(got[c])
            assert remembered is not None, c
            want_codes, want_uniques = pd.factorize(got[c].to_numpy(dtype=object))
            codes, uniques = factorize_objects(got[c])
            assert codes is remembered[0]
            assert codes.tolist() == want_codes.tolist() and list(uniques) == list(want_uniques), c
            assert not codes.flags.writeable and not got[c].to_numpy().flags.writeable
        assert _remembered(got["meter"]) is None  # not coded by the decoding
        assert _remembered(got["kind"].iloc[1:]) is None  # another length: computed, not looked up
        assert factorize_objects(got["kind"].iloc[1:])[0].tolist() == pd.factorize(
            got["kind"].to_numpy(dtype=object)[1:])[0].tolist()
