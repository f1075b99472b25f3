"""The relation graph of a region: firm-to-firm guarantees and people shared between firms.

Guarantees are directed, guarantor -> guaranteed, weighted by the money the guarantor stands
for (integer fen, summed over the guarantees active on ``as_of``). People shared between
firms (the same legal representative or shareholder) are undirected ties weighted by the
number of people shared. Both are square ``scipy.sparse`` CSR matrices over one node order,
``GuaranteeNetwork.usccs``, so the analyses in :mod:`scoring.graph` are sparse linear
algebra rather than Python loops over firms.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "GUARANTEE_COLUMNS",
    "RELATION_COLUMNS",
    "TIE_ROLES",
    "GuaranteeNetwork",
    "build_network",
    "capital_buffer",
]

#: Columns read from the guarantees frame (money in fen; end_date may be NaT).
GUARANTEE_COLUMNS: tuple[str, ...] = (
    "guarantor_uscc", "guaranteed_uscc", "amount_fen", "start_date", "end_date")

#: Columns read from the firm-person relations frame (``person_id`` is any stable person key,
#: e.g. the salted hash the server stores; end_date may be NaT).
RELATION_COLUMNS: tuple[str, ...] = ("uscc", "person_id", "role", "start_date", "end_date")

#: Roles whose holders tie two firms together by default.
TIE_ROLES: tuple[str, ...] = ("legal_rep", "shareholder")


@dataclass(frozen=True, slots=True)
class GuaranteeNetwork:
    """Guarantee and person ties among ``n`` firms, node ``i`` being ``usccs[i]``.

    ``guarantees[g, d]`` is the fen firm ``g`` guarantees of firm ``d``'s loans (float64, exact
    below 2**53 fen); ``ties[i, j]`` (symmetric, zero diagonal) counts the people active in
    both firms. ``as_of`` is the date the guarantees and ties were taken active on (None: all).
    """

    usccs: pd.Index
    guarantees: sp.csr_matrix
    ties: sp.csr_matrix
    as_of: pd.Timestamp | None = None

    @property
    def n(self) -> int:
        return len(self.usccs)

    @property
    def n_guarantees(self) -> int:
        """Number of guarantor -> guaranteed pairs with money on them."""
        return int(self.guarantees.nnz)

    def index(self, usccs: Iterable[str] | str) -> np.ndarray:
        """Node numbers of firms; a firm not in the network is a ``KeyError``."""
        keys = [usccs] if isinstance(usccs, str) else list(usccs)
        idx = self.usccs.get_indexer(keys)
        if (idx < 0).any():
            missing = [k for k, i in zip(keys, idx, strict=True) if i < 0]
            raise KeyError(f"firms not in the network: {missing[:5]}")
        return idx.astype(np.int64)

    def align(self, values: pd.Series | Sequence[float] | np.ndarray, name: str,
              fill: float | None = None) -> np.ndarray:
        """A float vector in node order from a Series keyed by uscc (missing firms get ``fill``,
        or raise when it is None) or from an array already in node order."""
        if isinstance(values, pd.Series):
            out = values.reindex(self.usccs).to_numpy(dtype=float, na_value=np.nan)
            if fill is not None:
                out = np.where(np.isnan(out), fill, out)
            elif np.isnan(out).any():
                raise ValueError(f"{name}: missing for {int(np.isnan(out).sum())} firms")
            return out
        out = np.asarray(values, dtype=float)
        if out.shape != (self.n,):
            raise ValueError(f"{name}: expected {self.n} values in node order, got {out.shape}")
        return out

    def edges(self) -> pd.DataFrame:
        """The guarantees as a frame: guarantor_uscc, guaranteed_uscc, amount_fen (int)."""
        coo = self.guarantees.tocoo()
        return pd.DataFrame({
            "guarantor_uscc": self.usccs.to_numpy()[coo.row],
            "guaranteed_uscc": self.usccs.to_numpy()[coo.col],
            "amount_fen": np.rint(coo.data).astype(np.int64),
        })


def _ts(d: date | str | pd.Timestamp | None) -> pd.Timestamp | None:
    return None if d is None else pd.Timestamp(d).normalize()


def _active(frame: pd.DataFrame, as_of: pd.Timestamp | None) -> np.ndarray:
    """Rows active on ``as_of``: started on or before it, not ended on or before it (the
    convention of ``scoring.records``); every row when ``as_of`` is None."""
    if as_of is None or not len(frame):
        return np.ones(len(frame), dtype=bool)
    start = pd.to_datetime(frame["start_date"])
    end = pd.to_datetime(frame["end_date"]) if "end_date" in frame else None
    ok = (start <= as_of).to_numpy()
    if end is not None:
        ok &= (end.isna() | (end > as_of)).to_numpy()
    return ok


def build_network(guarantees: pd.DataFrame, relations: pd.DataFrame | None = None, *,
                  as_of: date | str | pd.Timestamp | None = None,
                  firms: pd.DataFrame | pd.Index | Sequence[str] | None = None,
                  roles: Sequence[str] = TIE_ROLES) -> GuaranteeNetwork:
    """The relation graph on ``as_of`` from a guarantees frame (``GUARANTEE_COLUMNS``) and,
    optionally, a firm-person relations frame (``RELATION_COLUMNS``).

    Nodes are the firms of ``firms`` (a frame with ``uscc``, or the codes) in that order,
    followed by any other firm the two frames name, active or not (sorted); without ``firms``,
    every firm named, sorted. A firm guaranteeing itself is ignored; several guarantees between the
    same pair add up. Two firms are tied when a person holds one of ``roles`` in both.
    """
    day = _ts(as_of)
    g = guarantees.loc[_active(guarantees, day)]
    g = g.loc[g["guarantor_uscc"].to_numpy() != g["guaranteed_uscc"].to_numpy()]
    amount = pd.to_numeric(g["amount_fen"]).to_numpy(dtype=float)
    if (amount < 0).any():
        raise ValueError("amount_fen: guarantees must not be negative")

    r = None
    if relations is not None and len(relations):
        r = relations.loc[_active(relations, day) & relations["role"].isin(list(roles)).to_numpy()]

    if firms is None:
        base = pd.Index([], dtype=object)
    elif isinstance(firms, pd.DataFrame):
        base = pd.Index(firms["uscc"].to_numpy(dtype=object))
    else:
        base = pd.Index(np.asarray(list(firms), dtype=object))
    if base.has_duplicates:
        raise ValueError("firms: uscc must be unique")
    named = [guarantees["guarantor_uscc"].to_numpy(dtype=object),
             guarantees["guaranteed_uscc"].to_numpy(dtype=object)]
    if relations is not None:
        named.append(relations["uscc"].to_numpy(dtype=object))
    others = pd.Index(np.unique(np.concatenate(named + [np.empty(0, dtype=object)]).astype(str)))
    usccs = base.append(others.difference(base, sort=True)) if len(base) else others
    usccs = pd.Index(usccs.to_numpy(dtype=object), name="uscc")
    n = len(usccs)

    src = usccs.get_indexer(g["guarantor_uscc"])
    dst = usccs.get_indexer(g["guaranteed_uscc"])
    A = sp.csr_matrix((amount, (src, dst)), shape=(n, n))  # duplicates are summed
    A.eliminate_zeros()
    A.sort_indices()

    if r is not None and len(r):
        fi = usccs.get_indexer(r["uscc"])
        person, pi = np.unique(r["person_id"].astype(str).to_numpy(), return_inverse=True)
        M = sp.csr_matrix((np.ones(len(fi)), (fi, pi)), shape=(n, len(person)))
        M.data[:] = 1.0  # one person in two roles of a firm is still one tie
        T = (M @ M.T).tocsr()
        T.setdiag(0)
        T.eliminate_zeros()
        T.sort_indices()
    else:
        T = sp.csr_matrix((n, n))
    return GuaranteeNetwork(usccs=usccs, guarantees=A, ties=T, as_of=day)


def _equity(attrs: object) -> float:
    if isinstance(attrs, str | bytes) and attrs:
        try:
            attrs = json.loads(attrs)
        except ValueError:
            return np.nan
    if isinstance(attrs, dict):
        v = attrs.get("equity")
        try:
            return float(v) if v is not None else np.nan
        except (TypeError, ValueError):
            return np.nan
    return np.nan


def capital_buffer(firms: pd.DataFrame, records: pd.DataFrame | None = None,
                   as_of: date | str | pd.Timestamp | None = None,
                   max_age_days: int = 731) -> pd.Series:
    """The loss-absorbing capital of each firm, in fen, for DebtRank: the owners' equity of its
    latest annual statement known on ``as_of`` (filed within ``max_age_days``), else its
    registered capital. Negative equity gives 0: an insolvent firm has no buffer left.

    Registered capital is only subscribed, often never paid in, so equity is preferred when a
    statement exists; it is the fallback because every firm has one.
    """
    out = pd.Series(pd.to_numeric(firms["registered_capital_fen"]).to_numpy(dtype=float),
                    index=pd.Index(firms["uscc"].to_numpy(dtype=object), name="uscc"),
                    name="capital_fen")
    if records is not None and len(records):
        day = _ts(as_of)
        st = records.loc[records["kind"].to_numpy() == "financial_statement"]
        if day is not None:
            ev = pd.to_datetime(st["event_date"])
            st = st.loc[((ev <= day) & (ev > day - pd.Timedelta(days=max_age_days))).to_numpy()]
        if len(st):
            st = st.assign(_eq=[_equity(a) for a in st["attrs"].to_numpy()])
            st = st.loc[st["_eq"].notna()].sort_values("event_date", kind="stable")
            latest = st.groupby("uscc", sort=False)["_eq"].last()
            latest = latest.loc[latest.index.isin(out.index)]
            out.loc[latest.index] = latest.to_numpy()
    return out.clip(lower=0.0)
