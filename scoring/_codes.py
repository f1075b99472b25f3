"""Integer codes of columns whose values repeat: read from the objects' identities first.

A frame read from the database holds one Python object per distinct text (a USCC, a kind, a
category), so its object columns can be coded by address, an integer hash with no text
hashed, and only the few distinct objects' values compared. Used where millions of rows are
coded per read (``scoring._known``, ``scoring.feature_store``). Months of dates likewise: from
the few distinct days, not a calendar computed per row (:func:`month_numbers`).

A reader that builds a column knowing its codes already (the feature store's packs: a firm's
texts are stored once, with the places of its cells) hands them over with
:func:`remember_codes`, and every :func:`factorize_objects` of that column after is a lookup:
at 120,000 firms the re-score coded the cells' kinds four times and their USCCs twice, each
about 0.6 s and 0.36 GB of fresh memory."""

from __future__ import annotations

import weakref

import numpy as np
import pandas as pd

__all__ = ["factorize_objects", "identity", "is_text", "month_numbers", "remember_codes"]


def identity(values: pd.Series) -> np.ndarray:
    """Integers equal on consecutive rows only if the rows hold the same value. Object columns
    give their objects' addresses (the same object is the same value; reading them costs
    nothing; the array keeps the objects alive while it is read), categoricals their codes,
    and anything else codes from hashing."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype=np.int64)
    a = values.to_numpy()
    if a.dtype == object and len(a) and a.ndim == 1:
        return np.asarray(_Addresses(np.ascontiguousarray(a)))
    return pd.factorize(a, use_na_sentinel=False)[0]


class _Addresses:
    """An object array's pointers, seen as integers by ``np.asarray``: the view keeps this
    (and so the array) alive. (A ctypes array type made per length was a reference cycle
    per read, left to the cyclic collector.)"""

    __slots__ = ("__array_interface__", "objects")

    def __init__(self, objects: np.ndarray) -> None:
        self.objects = objects
        self.__array_interface__ = {"data": (objects.ctypes.data, True), "shape": objects.shape,
                                    "typestr": np.dtype(np.intp).str, "version": 3}


#: Codes handed over by :func:`remember_codes`, by the address of the column's first element:
#: (the array owning the memory, weakly; length; stride; codes; uniques).
_REMEMBERED: dict[int, tuple[weakref.ref, int, int, np.ndarray, np.ndarray]] = {}


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def remember_codes(objects: np.ndarray, codes: np.ndarray, uniques: np.ndarray) -> None:
    """Hand over what ``pd.factorize(objects)`` gives (``codes`` may be any integer type wide
    enough): :func:`factorize_objects` of this very column (the same memory, length and stride,
    as a frame built on it without a copy holds it) returns them without reading it. Each
    array is made read-only, so that neither the column nor the codes can change after; the
    codes are forgotten when the memory owning the column is freed."""
    if objects.dtype != object or objects.ndim != 1 or len(codes) != len(objects) or not len(objects):
        raise ValueError("remember_codes: a non-empty 1-D object array and one code per element")
    owner = _owner(objects)
    for a in (objects, owner, codes, uniques):
        a.flags.writeable = False
    address = objects.__array_interface__["data"][0]

    def forget(_ref: weakref.ref, address: int = address) -> None:
        entry = _REMEMBERED.get(address)
        if entry is not None and entry[0] is _ref:
            del _REMEMBERED[address]

    _REMEMBERED[address] = (weakref.ref(owner, forget), len(objects), objects.strides[0], codes, uniques)


def _remembered(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    if not _REMEMBERED or values.dtype != object:
        return None
    a = values.to_numpy()
    if a.ndim != 1 or not len(a) or a.flags.writeable:  # a writable column: not the one handed over
        return None
    entry = _REMEMBERED.get(a.__array_interface__["data"][0])
    if entry is None:
        return None
    ref, n, stride, codes, uniques = entry
    # the owner alive (and this column's): the memory at that address is still the remembered column's
    if ref() is not _owner(a) or len(a) != n or a.strides[0] != stride:
        return None
    return codes, uniques


def is_text(values: pd.Series, text: str) -> np.ndarray:
    """``values == text`` as a boolean array: from the codes when they were handed over (one
    small integer compared per row), else by comparing the objects."""
    known = _remembered(values)
    if known is None:
        return values.to_numpy(dtype=object) == text
    codes, uniques = known
    at = [i for i, u in enumerate(uniques.tolist()) if u == text]
    return codes == at[0] if at else np.zeros(len(codes), dtype=bool)


def factorize_objects(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)`` (the same codes and uniques, missing values coded -1), computed
    on the objects' identities and then on the distinct objects' values: equal texts held by
    distinct objects are merged there. For a column whose codes were handed over
    (:func:`remember_codes`): those, read-only and perhaps narrower than ``intp``."""
    known = _remembered(values)
    if known is not None:
        return known
    ids = identity(values)
    id_codes, id_uniques = pd.factorize(ids)
    one_row = np.empty(len(id_uniques), dtype=np.intp)
    one_row[id_codes[::-1]] = np.arange(len(ids) - 1, -1, -1)  # each identity's first row
    codes, uniques = pd.factorize(values.to_numpy(dtype=object)[one_row])
    return codes[id_codes] if len(ids) else id_codes, uniques


_NS_PER_DAY = 86_400_000_000_000
_NAT = np.iinfo(np.int64).min
#: Below this many dates, or over a span of more days than this, numpy's own cast is used.
_FEW_DATES, _WIDEST_SPAN_DAYS = 2_048, 1 << 17


def month_numbers(dates: np.ndarray | pd.Series | pd.Index) -> np.ndarray:
    """Months since 1970-01 of dates, as int64: what ``astype("datetime64[M]").astype(np.int64)``
    gives (NaT: the int64 minimum), bit for bit. numpy computes a calendar per row for that
    cast (about 30 ns a date); here each distinct day is cast once and the rows read a table
    of the days they span (about 6 ns a date)."""
    ns = np.asarray(dates, dtype="datetime64[ns]").view(np.int64)
    if ns.size < _FEW_DATES:
        return ns.view("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    day = ns // _NS_PER_DAY  # floor division: a date before 1970 falls on its own day
    nat = ns == _NAT
    has_nat = bool(nat.any())
    valid = day[~nat] if has_nat else day
    if not valid.size:
        return np.full(ns.shape, _NAT, dtype=np.int64)
    lo, hi = int(valid.min()), int(valid.max())
    if hi - lo > _WIDEST_SPAN_DAYS:
        return ns.view("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
    table = np.arange(lo, hi + 1, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    if not has_nat:
        return table[day - lo]
    out = table[np.where(nat, 0, day - lo)]
    out[nat] = _NAT
    return out
