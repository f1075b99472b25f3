"""``server.scores.frames.latest_months``: each kind's latest month among the cells with a row
by the end, the one a group-by of the known cells gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _reference(cells: pd.DataFrame, end: pd.Timestamp) -> dict[str, int]:
    known = cells[cells["first_event"] <= end]  # NaT compares false: not known
    return {str(k): int(m) for k, m in known.groupby("kind")["month"].max().items()}


@pytest.mark.parametrize("seed", range(10))
def test_each_kind_s_latest_known_month_is_the_group_by_s(seed):
    """Random cells: kinds held by distinct objects of equal text, first events after the end
    and missing (NaT), kinds with no known cell (left out), no cells at all."""
    from server.scores.frames import latest_months

    rng = np.random.default_rng(seed)
    texts = ["tax_monthly", "utility", "social_insurance", "customs_export", "bank_loan"]
    for _ in range(30):
        n = int(rng.integers(0, 80))
        kinds = np.array(["".join(texts[i]) for i in rng.integers(0, 1 + seed % len(texts), size=n)], dtype=object)
        first = np.datetime64("2024-01-01", "ns") + rng.integers(0, 3 * 10**16, size=n).astype("timedelta64[ns]")
        if n and seed % 3 == 0:
            first[rng.integers(0, n, size=max(1, n // 4))] = np.datetime64("NaT")
        cells = pd.DataFrame({"kind": pd.Series(kinds, dtype=object), "first_event": first,
                              "month": rng.integers(640, 680, size=n).astype(np.int64)})
        end = pd.Timestamp("2024-01-01") + pd.Timedelta(int(rng.integers(0, 4 * 10**16)), "ns")
        assert latest_months(cells, end) == _reference(cells, end)
