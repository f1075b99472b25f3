"""Codes of repeated texts read by the objects' identities (``scoring._codes``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring._codes import factorize_objects


def _texts() -> pd.Series:
    # distinct objects holding equal text (built at run time, so not interned together),
    # missing values of two kinds, and one object repeated across the column
    a1, a2 = "".join(["9137", "0001"]), "".join(["9137", "000", "1"])
    assert a1 == a2 and a1 is not a2
    b = "".join(["kind", "-b"])
    return pd.Series(np.array([b, a1, None, a2, b, np.nan, "c", a1, None], dtype=object))


@pytest.mark.parametrize("values", [
    _texts(),
    pd.Series(np.array([], dtype=object)),
    pd.Series(np.array(["x"] * 5, dtype=object)),
    pd.Series(pd.Categorical(["b", "a", None, "b"])),
])
def test_the_codes_and_uniques_are_pandas_factorize(values):
    want_codes, want_uniques = pd.factorize(values.to_numpy(dtype=object))
    codes, uniques = factorize_objects(values)
    assert codes.tolist() == want_codes.tolist()
    assert list(uniques) == list(want_uniques)


def test_equal_texts_in_distinct_objects_get_one_code():
    codes, uniques = factorize_objects(_texts())
    assert codes[1] == codes[3] == codes[7] and list(uniques).count("91370001") == 1


# -- months of dates ---------------------------------------------------------------------------

def _numpy_months(values) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[M]").astype(np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_months_equal_numpys_cast(seed):
    from scoring._codes import month_numbers as months

    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 5, 2_047, 2_048, 5_000, 60_000]))
    span = int(rng.choice([1, 40, 1_100, 40_000, (1 << 17) + 1, 100_000_000 // 86_400]))
    first = int(rng.integers(-100_000, 100_000))  # days from 1970-01-01: before and after it
    ns = (first + rng.integers(0, span, size=n)) * 86_400_000_000_000 + rng.integers(0, 86_400_000_000_000, size=n)
    ns = np.clip(ns, np.iinfo(np.int64).min + 1, None)  # the minimum itself is NaT
    dates = ns.view("datetime64[ns]").copy()
    if n and seed % 3 == 0:
        dates[rng.integers(0, n, size=max(1, n // 7))] = np.datetime64("NaT")
    if n and seed % 10 == 1:
        dates[:] = np.datetime64("NaT")
    got = months(dates)
    assert got.dtype == np.int64
    assert got.tolist() == _numpy_months(dates).tolist()
    # a Series of timestamps and a day-precision array read the same
    assert months(pd.Series(dates)).tolist() == got.tolist()


def test_months_at_the_edges_of_a_month_and_of_the_range():
    from scoring._codes import month_numbers as months

    edges = np.array(["1969-12-31T23:59:59.999999999", "1970-01-01", "2024-02-29T23:59:59", "2024-03-01",
                      "1677-09-22", "2262-04-11", "NaT"], dtype="datetime64[ns]")
    dates = np.tile(edges, 400)  # above the size where the table is used
    assert months(dates).tolist() == _numpy_months(dates).tolist()
    assert months(edges).tolist() == _numpy_months(edges).tolist()


# -- codes handed over -------------------------------------------------------------------------

def test_codes_handed_over_are_read_for_that_column_only_while_it_lives():
    """``remember_codes``: the column (and views of it in a frame built without a copy) is
    coded by lookup; a copy of it, another length or a column that is written is coded by
    reading it; the codes are forgotten with the column's memory."""
    import gc

    from scoring._codes import _REMEMBERED, _remembered, remember_codes

    texts = np.array(["b", "a", "b", "c", "a"], dtype=object)
    owner = np.empty(8, dtype=object)
    owner[:5] = texts
    column = owner[:5]
    remember_codes(column, np.array([0, 1, 0, 2, 1], dtype=np.int8), np.array(["b", "a", "c"], dtype=object))
    frame = pd.DataFrame({"t": column}, copy=False)
    codes, uniques = factorize_objects(frame["t"])
    assert codes.dtype == np.int8 and codes.tolist() == [0, 1, 0, 2, 1] and list(uniques) == ["b", "a", "c"]
    with pytest.raises(ValueError):  # the column can no longer change under its codes
        column[0] = "c"
    with pytest.raises(ValueError):
        codes[0] = 2
    assert _remembered(pd.Series(column.copy())) is None  # the same texts elsewhere: read
    assert _remembered(pd.Series(owner[:4])) is None  # the same memory, another length
    assert _remembered(pd.Series(owner[1:6])) is None  # another start
    del frame, column, codes, uniques, owner
    gc.collect()
    assert not _REMEMBERED  # the memory freed: its codes forgotten


def test_codes_handed_over_must_fit_the_column():
    from scoring._codes import remember_codes

    with pytest.raises(ValueError):
        remember_codes(np.array(["a", "b"], dtype=object), np.array([0]), np.array(["a"], dtype=object))
    with pytest.raises(ValueError):
        remember_codes(np.array([1, 2]), np.array([0, 1]), np.array([1, 2]))


def test_is_text_is_the_objects_comparison_with_codes_or_without():
    from scoring._codes import _remembered, is_text, remember_codes

    texts = np.array(["b", "a", None, "b", "c"], dtype=object)
    plain = pd.Series(texts.copy())
    coded = texts.copy()
    remember_codes(coded, *pd.factorize(coded))
    assert _remembered(pd.Series(coded, copy=False)) is not None and _remembered(plain) is None
    for text in ("a", "b", "c", "z", ""):
        want = texts == text
        assert is_text(plain, text).tolist() == want.tolist()
        assert is_text(pd.Series(coded, copy=False), text).tolist() == want.tolist()
