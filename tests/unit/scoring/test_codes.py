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
