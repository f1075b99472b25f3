"""A synthetic county for demos, tests and benchmarks.

``generate_region`` builds a believable county of firms whose department records are all
driven by one hidden quantity, each firm's *latent health*: a level set by industry, size and
age plus an AR(1) wander over the 36 months of history, with some firms sliding into trouble.
Tax, headcount, utility use, arrears, lawsuits, registry changes and the legal
representative's credit score follow it with noise, and bank-loan overdue days follow it into
default (90+ days), so a model trained on the records has something real, but not trivial,
to learn. Firms guarantee each other's loans in chains and circles, and a default weakens its
guarantors.

Everything is vectorised over (firm x month) matrices with numpy, so 120,000 firms take
well under a minute; the same seed always gives the same region. ``write_feeds`` writes the
region as the CSV / JSON Lines files departments send (see ``docs/feeds.md``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.records import RECORD_COLUMNS, RECORD_KINDS, STATEMENT_ITEMS
from server.demo import _vocab as V
from server.demo._feeds import (
    FEED_SOURCES,
    PART_WEIGHTS,
    DensityPlan,
    feed_columns,
    plan_density,
    write_feeds,
)
from server.uscc import make_uscc

__all__ = [
    "FEED_SOURCES",
    "HISTORY_MONTHS",
    "PART_WEIGHTS",
    "DensityPlan",
    "Region",
    "feed_columns",
    "generate_region",
    "plan_density",
    "write_feeds",
]

#: Months of history generated, ending at ``end``.
HISTORY_MONTHS = 36

#: Administrative division written into the firms' USCCs.
COUNTY_CODE = "331004"

SIZE_CLASSES = ("micro", "small", "medium", "large")
FIRM_STATUSES = ("active", "suspended", "revoked", "cancelled")

# Monthly probability that a borrower starts the slide into default is
# sigmoid(_ALPHA - _BETA * health + firm noise); tuned for ~4-5 % defaults a year.
_ALPHA = -6.7
_BETA = 1.7
_FIRM_NOISE = 0.45
_GUARANTOR_SHOCK = 0.35  # health lost by a guarantor when the firm it guarantees defaults
_DISTRESS_SHOCK = 0.4  # health lost when a firm starts missing payments

_DAY = np.timedelta64(1, "D")
_NAT = np.datetime64("NaT", "D")


@dataclass(slots=True)
class Region:
    """A generated county.

    ``firms`` has ``FIRM_COLUMNS`` plus the hidden ``latent_health`` (health at the training
    date, 12 months before ``end``); ``records`` has exactly ``RECORD_COLUMNS``;
    ``relations`` and ``guarantees`` have the columns of their feeds (guarantee money in fen);
    ``defaults`` maps uscc to the month end of its first 90+-days-overdue loan record (NaT if
    none). ``health`` is the (firm x month) latent health behind it all, for checks;
    ``truth`` the planted distortions per firm (under-declared tax, shared and reused meters,
    seasonal power use, exports through an agent), by uscc, for the authenticity checks.
    """

    firms: pd.DataFrame
    records: pd.DataFrame
    relations: pd.DataFrame
    guarantees: pd.DataFrame
    defaults: pd.Series
    end: dt.date
    months: pd.DatetimeIndex
    health: np.ndarray
    truth: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------------
# calendar


def _last_month_end(day: dt.date | None) -> dt.date:
    """The last month end on or before ``day`` (default: before today's month, UTC)."""
    if day is None:
        today = dt.datetime.now(dt.UTC).date()
        return today.replace(day=1) - dt.timedelta(days=1)
    nxt = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    month_end = nxt - dt.timedelta(days=1)
    return month_end if day == month_end else day.replace(day=1) - dt.timedelta(days=1)


@dataclass(slots=True)
class _Calendar:
    """Month starts / ends of the history as numpy day arrays."""

    end: np.datetime64
    starts: np.ndarray
    ends: np.ndarray
    days_in: np.ndarray
    month_of_year: np.ndarray  # 1..12
    year: np.ndarray

    @classmethod
    def build(cls, end: dt.date, months: int) -> _Calendar:
        last = (end.year - 1970) * 12 + end.month - 1
        mnum = np.arange(last - months + 1, last + 1)
        starts = mnum.astype("datetime64[M]").astype("datetime64[D]")
        ends = (mnum + 1).astype("datetime64[M]").astype("datetime64[D]") - _DAY
        return cls(
            end=np.datetime64(end, "D"),
            starts=starts,
            ends=ends,
            days_in=((ends - starts) // _DAY + 1).astype(np.int64),
            month_of_year=mnum % 12 + 1,
            year=mnum // 12 + 1970,
        )


# ---------------------------------------------------------------------------------------------
# seasonality by calendar month (index 0 = January); February carries the Spring Festival dip


_SEASON_REVENUE = np.array([
    [1.02, 0.68, 1.00, 1.00, 1.01, 1.04, 0.97, 0.97, 1.04, 1.04, 1.08, 1.15],  # production
    [1.12, 0.85, 0.93, 0.95, 0.98, 1.00, 0.97, 0.96, 1.00, 1.06, 1.10, 1.08],  # trade/services
])
_SEASON_POWER = np.array([
    [1.06, 0.62, 1.00, 0.98, 1.00, 1.05, 1.14, 1.17, 1.04, 0.99, 1.01, 1.08],  # production
    [1.12, 0.86, 0.93, 0.90, 0.95, 1.06, 1.24, 1.27, 1.04, 0.93, 0.94, 1.06],  # summer AC peak
])
_SEASON_WATER = np.array([0.95, 0.80, 0.95, 1.00, 1.03, 1.08, 1.15, 1.15, 1.05, 1.00, 0.95, 0.95])
_SEASON_GAS = np.array([1.40, 1.15, 1.05, 0.88, 0.78, 0.72, 0.70, 0.70, 0.76, 0.88, 1.05, 1.30])
_SEASON_EXPORT = np.array([1.00, 0.60, 0.95, 1.00, 1.05, 1.05, 1.05, 1.05, 1.10, 1.10, 1.10, 1.12])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------------
# firms


@dataclass(slots=True)
class _Firms:
    """Per-firm arrays of the generator (index = firm position)."""

    n: int
    ind: np.ndarray
    section: np.ndarray
    division: np.ndarray
    production: np.ndarray  # bool: sections A..E (production seasonality)
    size: np.ndarray
    emp: np.ndarray
    revenue: np.ndarray  # annual revenue, yuan
    town: np.ndarray
    founded: np.ndarray  # datetime64[D]
    status: np.ndarray
    stop: np.ndarray  # first month index with no more records (HISTORY_MONTHS if active)
    capital_fen: np.ndarray
    base: np.ndarray  # latent health level
    uscc: np.ndarray  # object array of str
    name: np.ndarray  # object array of str


_DEMO_DIVISION = "34"


def _make_firms(n: int, cal: _Calendar, rng: np.random.Generator) -> _Firms:
    """Industry, size, age, town, capital and health level of every firm."""
    weights = np.array([i.weight for i in V.INDUSTRIES])
    ind = rng.choice(len(V.INDUSTRIES), n, p=weights / weights.sum())
    section = np.array([i.section for i in V.INDUSTRIES])[ind]
    u = rng.random(n)
    mfg = section == "C"
    size = np.where(
        mfg,
        np.searchsorted(np.cumsum([0.60, 0.28, 0.10]), u, side="right"),
        np.searchsorted(np.cumsum([0.745, 0.20, 0.05]), u, side="right"),
    )

    mu = np.array([1.0, 3.2, 5.0, 6.3])[size]
    sd = np.array([0.6, 0.5, 0.3, 0.5])[size]
    lo = np.array([1, 10, 100, 300])[size]
    hi = np.array([9, 99, 299, 3000])[size]
    emp = np.clip(np.round(np.exp(rng.normal(mu, sd))), lo, hi).astype(np.int64)
    per_head = np.array([i.rev_per_head for i in V.INDUSTRIES])[ind]
    revenue = emp * per_head * np.exp(rng.normal(0.0, 0.35, n))

    shape = np.array([1.6, 2.0, 2.5, 3.0])[size]
    scale = np.array([4.5, 5.0, 5.5, 6.0])[size]
    age_years = np.clip(rng.gamma(shape, scale), 0.05, 30.0)
    founded = cal.end - np.round(age_years * 365.25).astype(np.int64) * _DAY

    town_w = np.array(V.TOWN_WEIGHTS, dtype=float)
    town = rng.choice(len(V.TOWNS), n, p=town_w / town_w.sum())

    ind_health = np.array([i.health for i in V.INDUSTRIES])[ind]
    size_health = np.array([-0.08, 0.05, 0.20, 0.35])[size]
    base = rng.normal(0.0, 0.85, n) + ind_health + size_health - 0.25 * (age_years < 3)

    capital_wan = np.zeros(n)
    for s, choices in enumerate((
        (10, 30, 50, 50, 100, 100, 200),
        (100, 200, 300, 500, 500, 800, 1000),
        (1000, 2000, 3000, 5000),
        (5000, 8000, 10000, 20000, 50000),
    )):
        sel = size == s
        capital_wan[sel] = rng.choice(np.array(choices, dtype=float), sel.sum())

    # The demo firm: a healthy small machinery maker, 12 years old, in the county seat.
    demo = int(np.flatnonzero([i.division == _DEMO_DIVISION for i in V.INDUSTRIES])[0])
    ind[0], section[0], size[0], emp[0], town[0] = demo, "C", 1, 46, 0
    revenue[0] = 46 * V.INDUSTRIES[demo].rev_per_head * 1.15
    founded[0] = cal.end - int(12.4 * 365.25) * _DAY
    base[0], capital_wan[0] = 0.9, 500

    # A few firms have stopped trading, mostly weak ones; their records stop at ``stop``.
    status = np.zeros(n, dtype=np.int64)
    stop = np.full(n, HISTORY_MONTHS, dtype=np.int64)
    n_out = int(round(0.04 * n))
    if n_out:
        weakness = -base + rng.normal(0.0, 1.0, n)
        weakness[0] = -np.inf
        out = np.argsort(-weakness, kind="stable")[:n_out]
        status[out] = rng.choice([1, 2, 3], n_out, p=[0.35, 0.40, 0.25])
        stop[out] = rng.integers(6, HISTORY_MONTHS, n_out)

    uscc = _usccs(founded, rng)
    name = _firm_names(ind, size, town, rng)
    return _Firms(
        n=n, ind=ind, section=section,
        division=np.array([i.division for i in V.INDUSTRIES])[ind],
        production=np.isin(section, list("ABCDE")), size=size, emp=emp, revenue=revenue,
        town=town, founded=founded, status=status, stop=stop,
        capital_fen=(capital_wan * 1_000_000).astype(np.int64), base=base, uscc=uscc, name=name,
    )


def _usccs(founded: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distinct valid codes; firms registered since late 2015 get the ``MA`` prefix."""
    n = len(founded)
    new_style = founded >= np.datetime64("2015-10-01")
    ma = (21 * 31 + 10) * 31**7  # "MA" followed by seven characters

    def draw(size: int, new: np.ndarray) -> np.ndarray:
        return np.where(new, ma + rng.integers(0, 31**7, size), rng.integers(0, 10 * 31**8, size))

    serial = draw(n, new_style)
    while True:
        dup = pd.Series(serial).duplicated().to_numpy()
        if not dup.any():
            break
        serial[dup] = draw(int(dup.sum()), new_style[dup])
    return np.array([make_uscc(int(s), COUNTY_CODE) for s in serial], dtype=object)


def _firm_names(ind: np.ndarray, size: np.ndarray, town: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """Unique names: [place] + trade name (字号) + industry word + legal form."""
    n = len(ind)
    chars = np.array(V.TRADE_CHARS, dtype=object)
    words = [i.words for i in V.INDUSTRIES]
    towns_short = [t[:2] for t in V.TOWNS]

    def make(idx: np.ndarray, n_chars: int) -> list[str]:
        k = len(idx)
        trade = chars[rng.integers(0, len(chars), (k, n_chars))]
        place = rng.choice(3, k, p=[0.45, 0.35, 0.20])
        pick = rng.integers(0, 1 << 20, k)
        form = rng.random(k)
        out = []
        for j, i in enumerate(idx):
            prefix = ("", V.COUNTY_SHORT, towns_short[town[i]])[place[j]]
            w = words[ind[i]]
            if size[i] >= 2:
                legal = "股份有限公司" if form[j] < 0.45 else "有限公司"
            else:
                legal = "有限责任公司" if form[j] < 0.25 else "有限公司"
            out.append(prefix + "".join(trade[j]) + w[pick[j] % len(w)] + legal)
        return out

    names = np.array(make(np.arange(n), 2), dtype=object)
    names[0] = V.COUNTY_SHORT + "鑫泰精工机械有限公司"
    for attempt in range(50):
        dup = pd.Series(names).duplicated().to_numpy()
        if not dup.any():
            return names
        idx = np.flatnonzero(dup)
        names[idx] = make(idx, 2 if attempt < 2 else 3)
    raise RuntimeError("could not make unique firm names")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# health, loans, guarantees, defaults


def _health(f: _Firms, rng: np.random.Generator) -> np.ndarray:
    """Monthly latent health: level + AR(1) wander + slow slides (and a few recoveries)."""
    n, m = f.n, HISTORY_MONTHS
    x = np.empty((n, m))
    x[:, 0] = rng.normal(0.0, 0.45, n)
    eps = rng.normal(0.0, 0.17, (n, m))
    for t in range(1, m):
        x[:, t] = 0.93 * x[:, t - 1] + eps[:, t]
    t = np.arange(m)[None, :]
    start = rng.integers(-30, m, n)[:, None]
    elapsed = np.clip(t - start, 0, None)
    kind = rng.random(n)
    slide = np.where(kind < 0.12, -rng.uniform(0.02, 0.10, n),
                     np.where(kind > 0.95, rng.uniform(0.01, 0.05, n), 0.0))
    drift = np.clip(slide[:, None] * elapsed, -2.5, 1.0)
    h = f.base[:, None] + x + drift
    h[0] = f.base[0] + 0.3 * x[0]
    return h


@dataclass(slots=True)
class _Loans:
    """Bank borrowing per firm and the path into default."""

    has: np.ndarray
    start: np.ndarray  # first month index with a loan record
    stop: np.ndarray  # last month index with a loan record (inclusive)
    balance_fen: np.ndarray  # typical balance
    slide: np.ndarray  # month index the firm starts missing payments, -1 if never


def _alive(f: _Firms, cal: _Calendar) -> np.ndarray:
    """(firm x month): founded by the month end and still trading."""
    t = np.arange(HISTORY_MONTHS)[None, :]
    return (cal.ends[None, :] >= f.founded[:, None]) & (t < f.stop[:, None])


def _loans(f: _Firms, alive: np.ndarray, rng: np.random.Generator) -> _Loans:
    """Who borrows, from when to when and how much."""
    n, m = f.n, HISTORY_MONTHS
    p = np.array([0.33, 0.62, 0.85, 0.90])[f.size] * (1 + 0.1 * np.clip(f.base, -1, 1))
    has = rng.random(n) < p
    has[0] = True
    first_alive = np.where(alive.any(axis=1), alive.argmax(axis=1), m)
    start = np.where(rng.random(n) < 0.75, 0, rng.integers(1, m, n))
    start[0] = 0
    start = np.maximum(start, first_alive)
    repaid = rng.random(n) < 0.08
    stop = np.where(repaid, np.minimum(start + rng.integers(3, m, n), m - 1), m - 1)
    has &= start < m
    balance_yuan = np.maximum(np.round(f.revenue * rng.uniform(0.08, 0.45, n), -4), 100_000)
    return _Loans(has=has, start=start, stop=stop, balance_fen=balance_yuan.astype(np.int64) * 100,
                  slide=np.full(n, -1, dtype=np.int64))


def _guarantees(f: _Firms, loans: _Loans, cal: _Calendar,
                rng: np.random.Generator) -> pd.DataFrame:
    """Local guarantee networks: chains inside town/industry groups, circles, mutual pairs."""
    borrowers = np.flatnonzero(loans.has)
    part = borrowers[rng.random(len(borrowers)) < 0.8]
    part = part[np.lexsort((rng.random(len(part)), f.section[part], f.town[part]))]
    sizes = rng.integers(2, 9, len(part) + 1)
    group = np.repeat(np.arange(len(sizes)), sizes)[: len(part)]
    same = group[1:] == group[:-1]
    g_from, g_to = [part[:-1][same]], [part[1:][same]]  # chain: each guarantees the next

    # close some chains into circles (A -> B -> C -> A)
    first = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    last = np.r_[first[1:] - 1, len(part) - 1]
    circle = ((last - first) >= 2) & (rng.random(len(first)) < 0.2)
    g_from.append(part[last[circle]])
    g_to.append(part[first[circle]])

    # mutual pairs
    back = rng.random(same.sum()) < 0.4
    g_from.append(g_to[0][back])
    g_to.append(g_from[0][back])

    # extra ties to random borrowers of the same town (links chains into networks)
    by_town = borrowers[np.argsort(f.town[borrowers], kind="stable")]
    town_of = f.town[by_town]
    lo = np.searchsorted(town_of, np.arange(len(V.TOWNS)), side="left")
    hi = np.searchsorted(town_of, np.arange(len(V.TOWNS)), side="right")
    extra = part[rng.random(len(part)) < 0.8]
    if len(extra):
        tw = f.town[extra]
        pick = lo[tw] + (rng.random(len(extra)) * (hi[tw] - lo[tw])).astype(np.int64)
        g_from.append(extra)
        g_to.append(by_town[pick])

    # related non-borrowers that stand surety
    others = np.flatnonzero(~loans.has)
    k = min(len(others), int(0.2 * len(borrowers)))
    if k:
        g_from.append(rng.choice(others, k, replace=False))
        g_to.append(rng.choice(borrowers, k))

    src = np.concatenate(g_from)
    dst = np.concatenate(g_to)
    keep = src != dst
    pair = np.unique(src[keep] * f.n + dst[keep])
    src, dst = pair // f.n, pair % f.n
    share = rng.uniform(0.3, 1.0, len(src))
    amount = np.maximum(np.round(loans.balance_fen[dst] * share, -6), 1_000_000).astype(np.int64)
    lead = rng.integers(15, HISTORY_MONTHS * 31, len(src))
    start = cal.end - lead * _DAY
    start = np.maximum(start, np.maximum(f.founded[src], f.founded[dst]))
    end = start + rng.choice([365, 730, 1095], len(src)) * _DAY
    usccs = f.uscc
    return pd.DataFrame({
        "record_key": usccs[src] + "-" + usccs[dst],
        "guarantor_uscc": usccs[src],
        "guaranteed_uscc": usccs[dst],
        "amount_fen": amount,
        "start_date": start.astype("datetime64[ns]"),
        "end_date": end.astype("datetime64[ns]"),
        "_src": src,
        "_dst": dst,
    })


def _simulate_defaults(f: _Firms, h: np.ndarray, alive: np.ndarray, loans: _Loans,
                       guar: pd.DataFrame, cal: _Calendar, rng: np.random.Generator) -> None:
    """Month by month: weak borrowers start missing payments; 3 months later they default.

    A firm that starts missing payments loses health (its records show the distress), and a
    default hurts the firms that guaranteed it. ``h`` and ``loans.slide`` are updated in place.
    """
    n, m = f.n, HISTORY_MONTHS
    noise = rng.normal(0.0, _FIRM_NOISE, n)
    draws = rng.random((n, m))
    src = guar["_src"].to_numpy()
    dst = guar["_dst"].to_numpy()
    g_start = guar["start_date"].to_numpy().astype("datetime64[D]")
    shock = np.zeros(n)
    pending: list[list[np.ndarray]] = [[] for _ in range(m + 4)]
    started = np.zeros(n, dtype=bool)
    for t in range(m):
        for hit in pending[t]:
            np.add.at(shock, hit, -_GUARANTOR_SHOCK)
        h[:, t] += shock
        eligible = loans.has & ~started & (t >= loans.start) & (t <= loans.stop) & alive[:, t]
        eligible[0] = False
        p = _sigmoid(_ALPHA - _BETA * h[:, t] + noise)
        new = eligible & (draws[:, t] < p)
        if not new.any():
            continue
        loans.slide[new] = t
        started |= new
        shock[new] -= _DISTRESS_SHOCK
        h[new, t] -= _DISTRESS_SHOCK
        if t + 3 < m:
            hit = new[dst] & (g_start <= cal.ends[t + 3])
            pending[t + 3].append(src[hit])
    loans.stop[started] = m - 1


# ---------------------------------------------------------------------------------------------
# distortions: what makes department data hard to believe, planted with a known truth


@dataclass(slots=True)
class _Distortions:
    """Planted distortions of a region, per firm (index = firm position).

    * ``under_from``/``under_factor``: from that month the firm declares only ``factor`` of
      its VAT and income tax, while it sells, uses power and employs as before
      (``HISTORY_MONTHS``: never).
    * ``meter``: each firm's own electricity meter number; ``shared_with``/``shared_from``:
      from that month the firm sits on the meter of firm ``shared_with`` (the account
      holder, itself for the holder), which is billed the whole reading while the others
      report the meter with nothing on it (-1 / ``HISTORY_MONTHS``: never).
    * ``reused``: the firm got the meter number of a firm that had stopped trading before
      it was founded (never the same month: not a shared meter).
    * ``off_season``: first calendar month (1..12) of four months in which a seasonal firm
      hardly sells while its power stays on (0: not seasonal).
    * ``agent_from``: from that month the firm exports through an agent, so customs shows
      no exports of its own (``HISTORY_MONTHS``: never).
    """

    under_from: np.ndarray
    under_factor: np.ndarray
    meter: np.ndarray
    shared_with: np.ndarray
    shared_from: np.ndarray
    reused: np.ndarray
    off_season: np.ndarray
    agent_from: np.ndarray
    rng: np.random.Generator

    def truth(self, f: _Firms) -> pd.DataFrame:
        """The planted truth, one row per firm (for checks and benchmarks)."""
        m = HISTORY_MONTHS
        return pd.DataFrame({
            "under_declaring": self.under_from < m,
            "under_from": self.under_from,
            "under_factor": np.where(self.under_from < m, self.under_factor, np.nan),
            "shared_meter": self.shared_with >= 0,
            "shared_recent": (self.shared_with >= 0) & (self.shared_from < m),
            "meter_holder": self.shared_with == np.arange(f.n),
            "shared_from": self.shared_from,
            "meter_reused": self.reused,
            "seasonal_use": self.off_season > 0,
            "agent_exports": self.agent_from < m,
            "agent_from": self.agent_from,
        }, index=pd.Index(f.uscc, name="uscc"))


_UNDER_SHARE = 0.04  # of firms paying VAT worth checking
_SHARED_SHARE = 0.03  # of trading firms on a shared meter
_SEASONAL_SHARE = 0.04  # of production firms
_AGENT_SHARE = 0.25  # of exporters still exporting at the end


def _distortions(f: _Firms, alive: np.ndarray, cal: _Calendar,
                 rng: np.random.Generator) -> _Distortions:
    n, m = f.n, HISTORY_MONTHS
    idx = np.arange(n)
    trading = (f.status == 0) & alive[:, 12]
    trading[0] = False  # the demo firm stays clean

    under_from = np.full(n, m, np.int64)
    pays = trading & alive[:, 0] & (f.revenue / 12 >= 150_000)
    pick = idx[pays][rng.random(int(pays.sum())) < _UNDER_SHARE]
    under_from[pick] = rng.integers(m - 12, m - 4, len(pick))
    under_factor = rng.uniform(0.35, 0.65, n)

    meter = np.array([f"{COUNTY_CODE}E{i:07d}" for i in range(n)], dtype=object)
    shared_with = np.full(n, -1, np.int64)
    shared_from = np.full(n, m, np.int64)
    cand = idx[trading & (rng.random(n) < _SHARED_SHARE)]
    for town in np.unique(f.town[cand]):
        members = rng.permutation(cand[f.town[cand] == town])
        pos = 0
        while len(members) - pos >= 2:
            k = int(min(rng.integers(2, 5), len(members) - pos))
            group = members[pos:pos + k]
            pos += k
            shared_with[group] = group[0]
            shared_from[group] = rng.integers(12, m - 2)
    if not (shared_with >= 0).any():  # a small region still has one shared meter to show
        towns, counts = np.unique(f.town[trading], return_counts=True)
        if len(counts) and counts.max() >= 2:
            pair = idx[trading & (f.town == towns[counts.argmax()])][:2]
            shared_with[pair], shared_from[pair] = pair[0], m - 10

    # a meter number passes to a firm founded after the last month anyone used it
    reused = np.zeros(n, dtype=bool)
    ever = alive.any(axis=1)
    first_month = np.where(ever, alive.argmax(axis=1), m)
    last_month = np.where(ever, m - 1 - alive[:, ::-1].argmax(axis=1), -1)
    last_use = dict(zip(meter.tolist(), last_month.tolist(), strict=True))
    free = ever & (last_month == m - 1)
    free[0] = False
    free[shared_with >= 0] = False
    for i in rng.permutation(idx[ever & (last_month < m - 1)]):
        later = np.flatnonzero(free & (first_month > last_use[meter[i]]))
        if not len(later):
            continue
        j = int(rng.choice(later))
        last_use[meter[j]] = -1
        meter[j], reused[j], free[j] = meter[i], True, False
        last_use[meter[j]] = int(last_month[j])

    off_season = np.zeros(n, np.int64)
    seasonal = trading & f.production & (rng.random(n) < _SEASONAL_SHARE)
    off_season[seasonal] = rng.integers(1, 13, int(seasonal.sum()))

    return _Distortions(under_from, under_factor, meter, shared_with, shared_from, reused,
                        off_season, np.full(n, m, np.int64), rng)


# ---------------------------------------------------------------------------------------------
# record blocks


@dataclass(slots=True)
class _Block:
    """Rows of one record kind before they are stacked into the records frame."""

    kind: str
    fi: np.ndarray
    event: np.ndarray
    end: np.ndarray | None = None
    cat: np.ndarray | None = None  # index into the kind's categories
    amount: np.ndarray | None = None  # fen as float, NaN = missing
    arrears: np.ndarray | None = None
    quantity: np.ndarray | None = None
    days: np.ndarray | None = None
    status: np.ndarray | None = None  # index into the kind's statuses
    attrs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.fi)


class _Builder:
    """Makes the record blocks of one region; all inputs are (firm x month) matrices."""

    def __init__(self, f: _Firms, h: np.ndarray, alive: np.ndarray, loans: _Loans,
                 cal: _Calendar, rng: np.random.Generator, d: _Distortions) -> None:
        self.f, self.h, self.alive, self.loans, self.cal, self.rng = f, h, alive, loans, cal, rng
        self.d = d
        self.n, self.m = f.n, HISTORY_MONTHS
        moy = cal.month_of_year - 1
        group = (~f.production).astype(np.int64)
        dev = h - f.base[:, None]
        self.activity = np.exp(0.3 * dev + rng.normal(0.0, 0.06, (self.n, self.m)))
        growth = rng.normal(0.03, 0.05, self.n)[:, None] * (np.arange(self.m) - self.m)[None, :] / 12
        self.revenue = (f.revenue[:, None] / 12 * _SEASON_REVENUE[group][:, moy]
                        * np.exp(0.35 * dev + growth + rng.normal(0.0, 0.10, (self.n, self.m))))
        # seasonal firms hardly sell for four months a year (their power stays on)
        off = (cal.month_of_year[None, :] - d.off_season[:, None]) % 12 < 4
        self.revenue = np.where((d.off_season[:, None] > 0) & off, self.revenue * 0.3, self.revenue)
        # one shared "cash squeeze" signal so tax, premium and bill arrears move together
        squeeze = h + rng.normal(0.0, 0.35, (self.n, 1)) + rng.normal(0.0, 0.35, (self.n, self.m))
        self.squeeze = squeeze
        self.blocks: list[_Block] = []

    # -- helpers ----------------------------------------------------------------------------

    def month_rows(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fi, ti = np.nonzero(mask)
        return fi, ti

    def events(self, rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Poisson events per (firm, month) at ``rate``; returns firm, month and day."""
        counts = self.rng.poisson(np.where(self.alive, rate, 0.0))
        fi, ti = np.nonzero(counts)
        rep = counts[fi, ti]
        fi, ti = np.repeat(fi, rep), np.repeat(ti, rep)
        day = self.day_in(ti)
        # the founding month counts as alive, but nothing happens before the founding day
        keep = day > self.f.founded[fi]
        return fi[keep], ti[keep], day[keep]

    def day_in(self, ti: np.ndarray) -> np.ndarray:
        off = (self.rng.random(len(ti)) * self.cal.days_in[ti]).astype(np.int64)
        return self.cal.starts[ti] + off * _DAY

    def ended(self, start: np.ndarray, p_end: float | np.ndarray, lo: int, hi: int) -> np.ndarray:
        """An end date ``lo..hi`` days after ``start`` with probability ``p_end``, if known by now."""
        k = len(start)
        end = start + self.rng.integers(lo, hi + 1, k) * _DAY
        end = np.where((self.rng.random(k) < p_end) & (end <= self.cal.end), end, _NAT)
        return end

    def add(self, block: _Block) -> None:
        if len(block):
            self.blocks.append(block)

    # -- monthly kinds -------------------------------------------------------------------------

    def tax(self) -> None:
        f, rng = self.f, self.rng
        small_scale = (f.size == 0) | (f.revenue < 5_000_000)
        vat_rate = np.where(small_scale, 0.01,
                            np.where(f.section == "F", 0.012, np.where(f.production, 0.03, 0.025)))
        # an under-declaring firm declares only part of its sales from ``under_from`` on
        declared = np.where(np.arange(self.m)[None, :] >= self.d.under_from[:, None],
                            self.d.under_factor[:, None], 1.0)
        vat = self.revenue * vat_rate[:, None]
        vat = np.where(small_scale[:, None] & (self.revenue < 100_000), 0.0, vat)  # exemption
        vat = vat * declared
        late = self.squeeze < -2.0
        fi, ti = self.month_rows(self.alive)
        due = vat[fi, ti]
        owed = late[fi, ti]
        mult = rng.uniform(1.0, 3.0, len(fi))
        self.add(_Block("tax_monthly", fi, self.cal.ends[ti], cat=np.zeros(len(fi), np.int64),
                        amount=np.round(np.where(owed, 0.3, 1.0) * due * 100),
                        arrears=np.round(np.where(owed, due * mult, 0.0) * 100)))
        # enterprise income tax, quarterly prepayment on the quarter's profit
        quarter = np.isin(self.cal.month_of_year, (3, 6, 9, 12))
        fi, ti = self.month_rows(self.alive & quarter[None, :])
        rev_q = self.revenue[fi, ti] * 3
        margin = 0.03 + 0.035 * self.h[fi, ti] + rng.normal(0.0, 0.02, len(fi))
        rate = np.where(f.size[fi] >= 2, 0.25, 0.05)
        due = np.maximum(rev_q * margin, 0.0) * rate * declared[fi, ti]
        owed = late[fi, ti]
        self.add(_Block("tax_monthly", fi, self.cal.ends[ti], cat=np.ones(len(fi), np.int64),
                        amount=np.round(np.where(owed, 0.0, due) * 100),
                        arrears=np.round(np.where(owed, due * rng.uniform(1.0, 2.0, len(fi)), 0.0)
                                         * 100)))

    def social_insurance(self) -> None:
        f, rng = self.f, self.rng
        cover = rng.uniform(0.55, 1.0, self.n)
        dev = self.h - f.base[:, None]
        head = np.maximum(np.round(f.emp[:, None] * cover[:, None] * np.exp(0.25 * dev)
                                   * np.exp(rng.normal(0.0, 0.03, (self.n, self.m)))), 1)
        late = self.squeeze < -1.9
        fi, ti = self.month_rows(self.alive)
        hc = head[fi, ti]
        owed = late[fi, ti]
        mult = rng.uniform(1.0, 4.0, len(fi))
        wage_base = 4_600.0
        for cat, rate in ((0, 0.24), (1, 0.10)):
            monthly = hc * wage_base * rate
            self.add(_Block("social_insurance", fi, self.cal.ends[ti],
                            cat=np.full(len(fi), cat, np.int64),
                            amount=np.round(np.where(owed, 0.2, 1.0) * monthly * 100),
                            arrears=np.round(np.where(owed, monthly * mult, 0.0) * 100),
                            quantity=hc.astype(np.float64)))

    def utilities(self) -> None:
        f, rng, cal = self.f, self.rng, self.cal
        moy = cal.month_of_year - 1
        group = (~f.production).astype(np.int64)
        per_head = np.array([i.kwh_per_head for i in V.INDUSTRIES])[f.ind]
        scale = f.emp * per_head * np.exp(rng.normal(0.0, 0.3, self.n))
        late = self.squeeze < -2.2
        specs = (
            (0, scale[:, None] * _SEASON_POWER[group][:, moy],
             np.where(f.production, 0.68, 0.78), 0),
            (1, (f.emp * rng.uniform(2.0, 6.0, self.n) * np.where(f.production, 2.0, 1.0))[:, None]
             * _SEASON_WATER[moy][None, :], np.full(self.n, 4.6), 1),
            (2, (scale * 0.08)[:, None] * _SEASON_GAS[moy][None, :], np.full(self.n, 3.6), 1),
        )
        gas_share = np.array([i.gas for i in V.INDUSTRIES])[f.ind]
        gas_users = rng.random(self.n) < gas_share * np.where(f.size >= 1, 1.0, 0.5)
        for cat, use, price, digits in specs:
            mask = self.alive if cat < 2 else self.alive & gas_users[:, None]
            fi, ti = self.month_rows(mask)
            qty = use[fi, ti] * self.activity[fi, ti] * np.exp(rng.normal(0.0, 0.08, len(fi)))
            qty = np.round(np.maximum(qty, 1.0), digits)
            attrs = None
            if cat == 0:
                qty, attrs = self._meters(fi, ti, qty)
            bill = qty * price[fi]
            owed = late[fi, ti] & (qty > 0)
            self.add(_Block("utility", fi, cal.ends[ti], cat=np.full(len(fi), cat, np.int64),
                            amount=np.round(np.where(owed, 0.0, bill) * 100),
                            arrears=np.round(np.where(owed, bill * rng.uniform(1, 3, len(fi)), 0.0)
                                             * 100),
                            quantity=qty, attrs=attrs))

    def _meters(self, fi: np.ndarray, ti: np.ndarray,
                qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Electricity as the utility reports it: each row names its meter; on a shared
        meter the holder is billed the whole reading and the others show the meter with
        nothing on it."""
        d = self.d
        on_shared = (d.shared_with[fi] >= 0) & (ti >= d.shared_from[fi])
        holder = np.where(on_shared, d.shared_with[fi], fi)
        meter = d.meter[holder]
        qty = qty.copy()
        if on_shared.any():
            cell = holder[on_shared] * self.m + ti[on_shared]
            pooled = pd.Series(qty[on_shared]).groupby(cell).sum()
            is_holder = on_shared & (holder == fi)
            qty[on_shared] = 0.0
            qty[is_holder] = np.round(pooled.reindex(fi[is_holder] * self.m + ti[is_holder])
                                      .to_numpy(), 0)
        by_meter = {mid: {"meter_id": mid} for mid in np.unique(meter).tolist()}
        attrs = np.empty(len(fi), dtype=object)
        attrs[:] = [by_meter[mid] for mid in meter.tolist()]
        return qty, attrs

    def customs(self) -> None:
        f, rng, cal = self.f, self.rng, self.cal
        prop = np.array([i.export for i in V.INDUSTRIES])[f.ind]
        p = prop * np.array([0.25, 0.6, 1.2, 1.6])[f.size]
        exporter = rng.random(self.n) < np.minimum(p, 0.9)
        exporter[0] = True
        share = rng.uniform(0.2, 0.8, self.n)
        ship = rng.random((self.n, self.m)) < 0.85
        # some exporters turned to an agent in the last year: customs then sees no exports of
        # their own
        still = exporter & self.alive[:, -1] & (f.status == 0)
        still[0] = False
        agent = still & (self.d.rng.random(self.n) < _AGENT_SHARE)
        self.d.agent_from[agent] = self.d.rng.integers(self.m - 12, self.m - 6, int(agent.sum()))
        direct = np.arange(self.m)[None, :] < self.d.agent_from[:, None]
        fi, ti = self.month_rows(self.alive & exporter[:, None] & ship & direct)
        value = (self.revenue[fi, ti] * share[fi] * _SEASON_EXPORT[cal.month_of_year[ti] - 1]
                 * np.exp(rng.normal(0.0, 0.25, len(fi))))
        self.add(_Block("customs_export", fi, cal.ends[ti], amount=np.maximum(np.round(value, -2), 100) * 100))

    def bank_loans(self) -> None:
        loans, rng, n, m = self.loans, self.rng, self.n, self.m
        t = np.arange(m)[None, :]
        slid = loans.slide >= 0
        rel = t - loans.slide[:, None]
        days_def = np.where(slid[:, None] & (rel >= 0),
                            30 * rel + rng.integers(1, 30, n)[:, None], 0)
        hiccup = rng.random((n, m)) < _sigmoid(-5.8 - 1.5 * self.h)
        short = np.where(hiccup, rng.integers(1, 30, (n, m)), 0)
        short += np.where(hiccup & (self.h < -1.2) & (rng.random((n, m)) < 0.25), 30, 0)
        days = np.minimum(np.where(days_def > 0, days_def, short), 3650)

        written_off = slid & (rng.random(n) < 0.4)
        wo_month = np.where(written_off, loans.slide + 3 + rng.integers(3, 13, n), m)
        last = np.minimum(loans.stop, wo_month)
        mask = (loans.has[:, None] & self.alive & (t >= loans.start[:, None])
                & (t <= last[:, None]))

        walk = np.cumsum(rng.normal(0.0, 0.025, (n, m)), axis=1)
        frozen = np.take_along_axis(walk, np.clip(loans.slide, 0, m - 1)[:, None], axis=1)
        walk = np.where(slid[:, None] & (rel >= 0), frozen, walk)
        fi, ti = self.month_rows(mask)
        bal = np.round(loans.balance_fen[fi] * np.exp(walk[fi, ti]), -4)
        d = days[fi, ti]
        interest = np.where(d > 0, np.round(bal * 0.0038 * np.ceil(d / 30), -2), 0.0)
        self.add(_Block("bank_loan", fi, self.cal.ends[ti], amount=bal, arrears=interest,
                        days=d.astype(np.float64)))

    def personal_credit(self) -> None:
        rng, cal = self.rng, self.cal
        person = rng.normal(0.0, 45.0, self.n)
        quarter = np.isin(cal.month_of_year, (3, 6, 9, 12))
        fi, ti = self.month_rows(self.alive & quarter[None, :])
        troubled = (self.loans.slide[fi] >= 0) & (ti >= self.loans.slide[fi])
        score = (680 + 55 * self.h[fi, ti] + person[fi] + rng.normal(0.0, 15.0, len(fi))
                 - 60 * troubled)
        self.add(_Block("personal_credit", fi, cal.ends[ti],
                        quantity=np.clip(np.round(score), 350, 950)))

    # -- events --------------------------------------------------------------------------------

    def delayed(self, who: np.ndarray, p: float, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Firms in ``who`` that, with probability ``p``, get an event lo..hi months after
        their default (slide + 3), if that is still inside the history."""
        rng = self.rng
        month = self.loans.slide[who] + 3 + rng.integers(lo, hi + 1, len(who))
        keep = (rng.random(len(who)) < p) & (month < self.m) & (month < self.f.stop[who])
        return who[keep], month[keep]

    def court(self) -> None:
        f, rng, h = self.f, self.rng, self.h
        size_mult = np.array([1.0, 2.0, 4.0, 8.0])[f.size][:, None]
        fi_d, _, day_d = self.events(0.0022 * size_mult * np.exp(-0.9 * h))
        fi_p, _, day_p = self.events(0.0018 * size_mult * np.exp(0.2 * h))
        defaulted = np.flatnonzero(self.loans.slide >= 0)
        fi_b, ti_b = self.delayed(defaulted, 0.6, 1, 4)  # the bank sues
        fi = np.concatenate([fi_d, fi_b, fi_p])
        day = np.concatenate([day_d, self.day_in(ti_b), day_p])
        cat = np.r_[np.ones(len(fi_d) + len(fi_b), np.int64), np.zeros(len(fi_p), np.int64)]
        amount = (f.revenue[fi] * 0.02 * np.exp(rng.normal(0.0, 1.0, len(fi))))
        amount[len(fi_d):len(fi_d) + len(fi_b)] = self.loans.balance_fen[fi_b] / 100
        end = self.ended(day, 1.0, 60, 420)
        self.add(_Block("court_case", fi, day, end=end, cat=cat,
                        amount=np.maximum(np.round(amount, -2), 1000) * 100,
                        status=np.where(np.isnat(end), 0, 1)))

    def dishonest(self) -> None:
        fe, _, de = self.events(0.00015 * np.exp(-1.5 * self.h))
        fb, tb = self.delayed(np.flatnonzero(self.loans.slide >= 0), 0.25, 2, 8)
        fi, day = np.r_[fe, fb], np.r_[de, self.day_in(tb)]
        amount = np.r_[self.f.revenue[fe] * 0.03, self.loans.balance_fen[fb] / 100]
        self.add(_Block("dishonest_debtor", fi, day, end=self.ended(day, 0.3, 180, 720),
                        amount=np.maximum(np.round(amount, -2), 1000) * 100))

    def penalty(self) -> None:
        rng = self.rng
        mult = np.sqrt(np.array([1.0, 2.0, 4.0, 8.0]))[self.f.size][:, None]
        fi, ti, day = self.events(0.0012 * mult * np.exp(-0.4 * self.h))
        major = rng.random(len(fi)) < 0.15
        fine = np.where(major, np.exp(rng.uniform(np.log(50_000), np.log(1_000_000), len(fi))),
                        np.exp(rng.uniform(np.log(500), np.log(30_000), len(fi))))
        self.add(_Block("penalty", fi, day, cat=major.astype(np.int64),
                        amount=np.round(fine, -2) * 100))

    def credit_list(self) -> None:
        fr, tr, dr = self.events(0.0012 * np.exp(0.8 * self.h))
        fb, tb, db = self.events(0.00015 * np.exp(-1.5 * self.h))
        fd, td = self.delayed(np.flatnonzero(self.loans.slide >= 0), 0.15, 1, 6)
        black_day = np.r_[db, self.day_in(td)]
        fi = np.r_[fr, fb, fd]
        day = np.r_[dr, black_day]
        cat = np.r_[np.zeros(len(fr), np.int64), np.ones(len(black_day), np.int64)]
        end = np.r_[self.ended(dr, 1.0, 365, 1095), self.ended(black_day, 0.3, 365, 1095)]
        self.add(_Block("credit_list", fi, day, end=end, cat=cat))

    def registry(self) -> None:
        h = self.h
        t = np.arange(self.m)[None, :]
        slide = self.loans.slide[:, None]
        before_trouble = (slide >= 0) & (t >= slide - 6) & (t <= slide + 3)
        rates = (
            0.0015 * np.exp(-0.6 * h) + 0.035 * before_trouble,  # legal_rep
            np.full(h.shape, 0.0020),  # shareholder
            np.full(h.shape, 0.0020),  # address
            0.0012 * np.exp(0.4 * h),  # capital
            np.full(h.shape, 0.0004),  # name
        )
        for cat, rate in enumerate(rates):
            fi, ti, day = self.events(rate)
            self.add(_Block("registry_change", fi, day, cat=np.full(len(fi), cat, np.int64)))

    def real_estate_and_mortgages(self) -> None:
        f, rng, cal = self.f, self.rng, self.cal
        p = np.array([0.06, 0.25, 0.60, 0.90])[f.size] * np.where(np.isin(f.section, ["C", "K", "H"]),
                                                                  1.5, 1.0)
        owners = rng.random(self.n) < np.minimum(p, 0.95)
        owners[0] = True
        count = np.where(owners, 1 + rng.poisson(np.array([0.1, 0.3, 0.8, 1.5])[f.size]), 0)
        fi = np.repeat(np.arange(self.n), count)
        first = np.maximum(f.founded[fi], cal.starts[0] - 15 * 365 * _DAY)
        last = np.minimum(cal.ends[np.maximum(f.stop[fi], 1) - 1], cal.end)
        span = np.maximum((last - first) // _DAY, 0)
        day = first + (rng.random(len(fi)) * span).astype(np.int64) * _DAY
        area = np.where(f.production[fi], np.exp(rng.normal(7.3, 0.8, len(fi))),
                        np.exp(rng.normal(5.3, 0.8, len(fi))))
        price = np.where(f.production[fi], rng.uniform(1_800, 3_500, len(fi)),
                         rng.uniform(5_000, 12_000, len(fi)))
        value = np.round(area * price, -3)
        sell_p = np.clip(0.04 + 0.1 * (self.f.base[fi] < -1), 0, 1)
        end = self.ended(np.maximum(day, cal.starts[0]), sell_p, 30, 1000)
        self.add(_Block("real_estate", fi, day, end=end, amount=value * 100,
                        quantity=np.round(area, 2)))

        # mortgages on owned property that secure a bank loan
        loans = self.loans
        mort = np.flatnonzero(owners & loans.has & (loans.start < f.stop))
        m_start = np.where(loans.start[mort] > 0, cal.ends[np.minimum(loans.start[mort], self.m - 1)],
                           cal.starts[0] - rng.integers(30, 900, len(mort)) * _DAY)
        m_start = np.maximum(m_start, f.founded[mort])
        repaid = (loans.stop[mort] < self.m - 1) & (loans.slide[mort] < 0)
        m_end = np.where(repaid, cal.ends[loans.stop[mort]], _NAT)
        m_amount = np.round(loans.balance_fen[mort] * rng.uniform(0.6, 1.2, len(mort)), -6)
        # seizures: court preservation in disputes, and after default
        fs, ts, ds = self.events(0.0002 * np.exp(-1.5 * self.h))
        fd, td = self.delayed(np.flatnonzero(loans.slide >= 0), 0.5, 1, 6)
        s_fi = np.r_[fs, fd]
        s_day = np.r_[ds, self.day_in(td)]
        s_amount = np.r_[f.revenue[fs] * 0.05 * 100, loans.balance_fen[fd].astype(np.float64)]
        self.add(_Block(
            "seizure_mortgage", np.r_[mort, s_fi], np.r_[m_start, s_day],
            end=np.r_[m_end, self.ended(s_day, 0.4, 90, 365)],
            cat=np.r_[np.ones(len(mort), np.int64), np.zeros(len(s_fi), np.int64)],
            amount=np.maximum(np.round(np.r_[m_amount, s_amount], -4), 100_000)))

    def patents(self) -> None:
        f, rng, cal = self.f, self.rng, self.cal
        tech = np.isin(f.section, ["C", "I", "M"]) * 1.0 + 0.1
        base = np.array([0.002, 0.008, 0.03, 0.08])[f.size] * tech
        base[0] = 0.06
        rate = base[:, None] * np.exp(0.3 * self.h)
        fi, ti, day = self.events(rate)
        # older patents and honours, dated before the history
        years_before = np.clip((cal.starts[0] - f.founded) / np.timedelta64(365, "D"), 0, 10)
        old = rng.poisson(base * 12 * years_before)
        fo = np.repeat(np.arange(self.n), old)
        first = np.maximum(f.founded[fo], cal.starts[0] - 3650 * _DAY)
        span = np.maximum((cal.starts[0] - first) // _DAY - 1, 0)
        do = first + (rng.random(len(fo)) * span).astype(np.int64) * _DAY
        fi, day = np.r_[fi, fo], np.r_[day, do]
        cat = rng.choice(5, len(fi), p=[0.15, 0.45, 0.20, 0.12, 0.08])
        cat = np.where((cat == 4) & ~(np.isin(f.section[fi], ["C", "I", "M"]) & (f.size[fi] >= 1)),
                       3, cat)
        end = np.where(cat == 4, day + 1095 * _DAY, _NAT)  # high-tech status lasts three years
        lapse = self.ended(day, np.where(f.base[fi] < -0.5, 0.3, 0.05), 365, 2500)
        end = np.where(np.isnat(end), lapse, np.where(end <= cal.end, end, _NAT))
        self.add(_Block("patent_honour", fi, day, end=end, cat=cat))

    def statements(self) -> None:
        f, rng, cal, loans = self.f, self.rng, self.cal, self.loans
        filer = rng.random(self.n) < np.where(f.size == 0, 0.8, 0.97)
        filer[0] = True
        turnover = np.select([f.section == "F", f.section == "K", f.section == "E"], [2.0, 0.3, 0.8],
                             1.0) * np.exp(rng.normal(0.0, 0.25, self.n))
        for year in range(int(cal.year[0]) - 1, int(cal.year[-1])):
            in_year = cal.year == year
            if not in_year.any():
                continue
            late = rng.random(self.n) < 0.1
            filed = (np.datetime64(f"{year + 1}-05-01") + rng.integers(0, 31, self.n) * _DAY
                     + late * 31 * _DAY)
            fmonth = np.searchsorted(cal.ends, filed)
            ok = (filer & (filed >= cal.starts[0]) & (filed <= cal.end)
                  & (f.founded <= np.datetime64(f"{year}-06-30"))
                  & (fmonth < f.stop))
            fi = np.flatnonzero(ok)
            if not len(fi):
                continue
            months = int(in_year.sum())
            revenue = self.revenue[fi][:, in_year].sum(axis=1) * 12 / months
            hy = self.h[fi][:, in_year].mean(axis=1)
            k = len(fi)
            net_margin = 0.035 + 0.04 * hy + rng.normal(0.0, 0.02, k)
            gross = np.clip(net_margin + 0.12 + rng.normal(0.0, 0.03, k), 0.02, 0.6)
            assets = revenue / turnover[fi]
            lev = np.clip(0.55 - 0.14 * hy + rng.normal(0.0, 0.08, k), 0.08, 0.97)
            liab = assets * lev
            cur_assets = assets * rng.uniform(0.45, 0.8, k)
            inv_share = np.where(f.production[fi], rng.uniform(0.15, 0.4, k),
                                 rng.uniform(0.05, 0.3, k))
            items = {
                "revenue": revenue,
                "cost_of_sales": revenue * (1 - gross),
                "net_profit": revenue * net_margin,
                "total_assets": assets,
                "total_liabilities": liab,
                "current_assets": cur_assets,
                "current_liabilities": liab * rng.uniform(0.55, 0.9, k),
                "inventory": cur_assets * inv_share,
                "receivables": cur_assets * rng.uniform(0.15, 0.45, k),
                "equity": assets - liab,
                "operating_cash_flow": revenue * (net_margin + rng.normal(0.01, 0.04, k)),
                "interest_expense": np.where(loans.has[fi], loans.balance_fen[fi] / 100 * 0.045,
                                             liab * 0.005),
            }
            fen = {key: np.round(v * 100).astype(np.int64).tolist() for key, v in items.items()}
            keys = [i for i in STATEMENT_ITEMS if i != "year"]
            attrs = np.empty(k, dtype=object)
            attrs[:] = [dict(zip(("year", *keys), (year, *vals), strict=True))
                        for vals in zip(*(fen[key] for key in keys), strict=True)]
            self.add(_Block("financial_statement", fi, filed[fi],
                            amount=np.round(revenue * 100), attrs=attrs))

    def build(self) -> list[_Block]:
        """All blocks, in RECORD_KINDS order."""
        for step in (self.tax, self.social_insurance, self.utilities, self.court, self.dishonest,
                     self.penalty, self.credit_list, self.real_estate_and_mortgages, self.customs,
                     self.bank_loans, self.statements, self.patents, self.personal_credit,
                     self.registry):
            step()
        order = {k: i for i, k in enumerate(RECORD_KINDS)}
        return sorted(self.blocks, key=lambda b: order[b.kind])


def _int_array(values: np.ndarray | None, total: int) -> pd.arrays.IntegerArray:
    if values is None:
        return pd.arrays.IntegerArray(np.zeros(total, np.int64), np.ones(total, dtype=bool))
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype(np.int64), mask)


def _stack(blocks: list[_Block], uscc: np.ndarray) -> pd.DataFrame:
    """One records frame with exactly RECORD_COLUMNS from the blocks."""
    total = sum(len(b) for b in blocks)

    def cat_col(attr: str, vocab_of: str) -> np.ndarray:
        out = np.full(total, None, dtype=object)
        pos = 0
        for b in blocks:
            codes = getattr(b, attr)
            if codes is not None:
                vocab = np.array(getattr(RECORD_KINDS[b.kind], vocab_of), dtype=object)
                out[pos:pos + len(b)] = vocab[codes]
            pos += len(b)
        return out

    def num_col(attr: str) -> np.ndarray | None:
        parts = [getattr(b, attr) for b in blocks]
        if all(p is None for p in parts):
            return None
        return np.concatenate([np.full(len(b), np.nan) if p is None else p.astype(np.float64)
                               for b, p in zip(blocks, parts, strict=True)])

    def date_col(attr: str) -> np.ndarray:
        return np.concatenate([
            np.full(len(b), _NAT) if getattr(b, attr) is None else getattr(b, attr)
            for b in blocks]).astype("datetime64[ns]")

    fi = np.concatenate([b.fi for b in blocks])
    kinds = np.array([b.kind for b in blocks], dtype=object)
    attrs = np.full(total, None, dtype=object)
    pos = 0
    for b in blocks:
        if b.attrs is not None:
            attrs[pos:pos + len(b)] = b.attrs
        pos += len(b)
    quantity = num_col("quantity")
    return pd.DataFrame({
        "uscc": uscc[fi],
        "kind": np.repeat(kinds, [len(b) for b in blocks]),
        "event_date": date_col("event"),
        "end_date": date_col("end"),
        "category": cat_col("cat", "categories"),
        "amount_fen": _int_array(num_col("amount"), total),
        "arrears_fen": _int_array(num_col("arrears"), total),
        "quantity": np.full(total, np.nan) if quantity is None else quantity,
        "days": _int_array(num_col("days"), total),
        "status": cat_col("status", "statuses"),
        "attrs": attrs,
    }, columns=list(RECORD_COLUMNS), copy=False)


def _sort_block(b: _Block) -> _Block:
    """Event blocks in (firm, date) order so the frame reads naturally."""
    order = np.lexsort((b.event, b.fi))
    for field in ("fi", "event", "end", "cat", "amount", "arrears", "quantity", "days",
                  "status", "attrs"):
        value = getattr(b, field)
        if value is not None:
            setattr(b, field, value[order])
    return b


# ---------------------------------------------------------------------------------------------
# people


def _person_ids(k: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct fake 18-character resident ID numbers with a valid check character."""
    areas = np.array([331004, 331002, 331003, 331021, 331022, 331081])
    n_days = 16_000  # births from 1956 on
    slot = rng.permutation(max(k, 1) * 3)[:k]
    born = np.datetime64("1956-01-01") + (slot % n_days) * _DAY
    if k * 3 > n_days * 249:
        raise ValueError("too many people for distinct ID numbers")
    seq = slot // n_days * 4 + rng.integers(0, 4, k)  # < 1000, distinct per birth date
    ymd = pd.DatetimeIndex(born.astype("datetime64[ns]"))
    body = (rng.choice(areas, k).astype(np.int64) * 10**11
            + (ymd.year.to_numpy().astype(np.int64) * 10_000 + ymd.month.to_numpy() * 100
               + ymd.day.to_numpy()) * 1000 + seq)
    digits = (body[:, None] // 10 ** np.arange(16, -1, -1)[None, :]) % 10
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"), dtype=object)[(digits * weights).sum(axis=1) % 11]
    return body.astype(str).astype(object) + check


def _person_names(k: int, rng: np.random.Generator) -> np.ndarray:
    sw = np.array(V.SURNAME_WEIGHTS)
    surname = np.array(V.SURNAMES, dtype=object)[rng.choice(len(sw), k, p=sw / sw.sum())]
    given = np.array(V.GIVEN_CHARS, dtype=object)
    g1 = given[rng.integers(0, len(given), k)]
    g2 = np.where(rng.random(k) < 0.7, given[rng.integers(0, len(given), k)], "")
    return surname + g1 + g2


def _relations(f: _Firms, blocks: list[_Block], rng: np.random.Generator) -> pd.DataFrame:
    """Legal representatives, shareholders and supervisors; some people run several firms."""
    n = f.n
    rep = np.arange(n)
    next_person = n

    # business groups: a boss who runs or owns several firms of the same town
    members = np.flatnonzero(rng.random(n) < 0.10)
    members = members[np.lexsort((rng.random(len(members)), f.town[members]))]
    sizes = rng.integers(2, 5, len(members) + 1)
    group = np.repeat(np.arange(len(sizes)), sizes)[: len(members)]
    head = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    boss = rep[members[head]][np.searchsorted(head, np.arange(len(members)), side="right") - 1]
    runs = rng.random(len(members)) < 0.5
    runs[head] = True  # the boss runs the group's first firm
    rep[members[runs]] = boss[runs]
    boss_of = np.full(n, -1)
    boss_of[members[~runs]] = boss[~runs]  # the boss holds a partner's stake instead

    rows_f: list[np.ndarray] = []
    rows_p: list[np.ndarray] = []
    rows_role: list[np.ndarray] = []
    rows_share: list[np.ndarray] = []
    rows_start: list[np.ndarray] = []
    rows_end: list[np.ndarray] = []

    def add(fi: np.ndarray, person: np.ndarray, role: str, share: np.ndarray | None = None,
            start: np.ndarray | None = None, end: np.ndarray | None = None) -> None:
        rows_f.append(fi)
        rows_p.append(person)
        rows_role.append(np.full(len(fi), role, dtype=object))
        rows_share.append(np.full(len(fi), np.nan) if share is None else share)
        rows_start.append(f.founded[fi] if start is None else start)
        rows_end.append(np.full(len(fi), _NAT) if end is None else end)

    # the latest legal_rep change in the history replaces the previous representative
    changes = [b for b in blocks if b.kind == "registry_change" and b.cat is not None]
    fi = np.concatenate([b.fi[b.cat == 0] for b in changes] + [np.zeros(0, np.int64)])
    day = np.concatenate([b.event[b.cat == 0] for b in changes] + [np.zeros(0, "datetime64[D]")])
    rep_start = f.founded.copy()
    if len(fi):
        order = np.lexsort((day, fi))
        fi, day = fi[order], day[order]
        lastpos = np.r_[fi[1:] != fi[:-1], True]
        fi, day = fi[lastpos], day[lastpos]
        former = np.arange(next_person, next_person + len(fi))
        next_person += len(fi)
        add(fi, former, "legal_rep", end=day)
        rep_start[fi] = day
    add(np.arange(n), rep, "legal_rep", start=rep_start)

    # shareholders: 1..3, the first usually the legal representative
    k = np.where(f.size == 0, rng.choice([1, 2, 3], n, p=[0.5, 0.4, 0.1]),
                 rng.choice([1, 2, 3], n, p=[0.3, 0.45, 0.25]))
    k = np.where(boss_of >= 0, np.maximum(k, 2), k)
    a = np.round(rng.uniform(51, 90, n), 1)
    a3 = np.round(rng.uniform(40, 70, n), 1)
    b3 = np.round(rng.uniform(10, 100 - a3 - 5), 1)
    shares = np.select(
        [k[:, None] == 1, k[:, None] == 2],
        [np.c_[np.full(n, 100.0), np.zeros(n), np.zeros(n)],
         np.c_[a, np.round(100 - a, 1), np.zeros(n)]],
        np.c_[a3, b3, np.round(100 - a3 - b3, 1)])
    for j in range(3):
        fi = np.flatnonzero(k > j)
        if j == 0:  # usually the legal representative owns the largest stake
            fresh = (rng.random(len(fi)) >= 0.85) & (fi != 0)
            person = rep[fi]
        else:  # partners: mostly new people, some who run another firm of the county
            fresh = rng.random(len(fi)) < 0.85
            person = rep[rng.integers(0, n, len(fi))]
            bossed = (boss_of[fi] >= 0) & (k[fi] == j + 1)
            fresh &= ~bossed
            person = np.where(bossed, boss_of[fi], person)
        person = np.where(fresh, next_person + np.cumsum(fresh) - 1, person)
        next_person += int(fresh.sum())
        add(fi, person, "shareholder", share=shares[fi, j])

    sup = np.flatnonzero((f.size >= 1) & (rng.random(n) < 0.4))
    add(sup, np.arange(next_person, next_person + len(sup)), "supervisor")
    next_person += len(sup)

    fi = np.concatenate(rows_f)
    person = np.concatenate(rows_p)
    used, person = np.unique(person, return_inverse=True)
    ids = _person_ids(len(used), rng)
    names = _person_names(len(used), rng)
    role = np.concatenate(rows_role)
    frame = pd.DataFrame({
        "uscc": f.uscc[fi],
        "person_id": ids[person],
        "person_name": names[person],
        "role": role,
        "share_pct": np.concatenate(rows_share),
        "start_date": np.concatenate(rows_start).astype("datetime64[ns]"),
        "end_date": np.concatenate(rows_end).astype("datetime64[ns]"),
    })
    # a person drawn twice as shareholder of the same firm keeps one row
    frame = frame.drop_duplicates(["uscc", "person_id", "role", "end_date"]).copy()
    frame["_fi"] = fi[frame.index.to_numpy()]
    frame = frame.sort_values(["_fi", "role", "start_date"], kind="stable")
    seq = frame.groupby(["uscc", "role"], sort=False).cumcount() + 1
    frame.insert(0, "record_key", frame["uscc"] + "-" + frame["role"] + "-" + seq.astype(str))
    return frame.drop(columns="_fi").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# entry point


def generate_region(n_firms: int, seed: int, end: dt.date | None = None) -> Region:
    """Generate a county of ``n_firms`` firms with 36 months of records ending at ``end``.

    The same ``n_firms``, ``seed`` and ``end`` always give the same region (and so the same
    feed files and record keys). ``end`` defaults to the last complete month before today.
    """
    if n_firms < 1:
        raise ValueError("n_firms must be at least 1")
    end_day = _last_month_end(end)
    cal = _Calendar.build(end_day, HISTORY_MONTHS)
    rng_firms, rng_health, rng_loans, rng_guar, rng_def, rng_rec, rng_people, rng_distort = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8))

    f = _make_firms(n_firms, cal, rng_firms)
    h = _health(f, rng_health)
    alive = _alive(f, cal)
    loans = _loans(f, alive, rng_loans)
    guar = _guarantees(f, loans, cal, rng_guar)
    _simulate_defaults(f, h, alive, loans, guar, cal, rng_def)

    distortions = _distortions(f, alive, cal, rng_distort)
    blocks = [b if RECORD_KINDS[b.kind].monthly else _sort_block(b)
              for b in _Builder(f, h, alive, loans, cal, rng_rec, distortions).build()]
    records = _stack(blocks, f.uscc)
    relations = _relations(f, blocks, rng_people)

    loan_rows = next(b for b in blocks if b.kind == "bank_loan")
    hit = loan_rows.days >= 90
    first = pd.Series(loan_rows.event[hit]).groupby(loan_rows.fi[hit]).min()
    default_day = np.full(f.n, _NAT)
    default_day[first.index.to_numpy()] = first.to_numpy().astype("datetime64[D]")
    usccs = pd.Index(f.uscc, name="uscc")
    defaults = pd.Series(default_day.astype("datetime64[ns]"), index=usccs, name="default_date")

    train_month = HISTORY_MONTHS - 13
    firms = pd.DataFrame({
        "uscc": f.uscc,
        "name": f.name,
        "industry_section": f.section.astype(object),
        "industry_division": f.division.astype(object),
        "town": np.array(V.TOWNS, dtype=object)[f.town],
        "registered_capital_fen": f.capital_fen,
        "founded_on": f.founded.astype("datetime64[ns]"),
        "size_class": np.array(SIZE_CLASSES, dtype=object)[f.size],
        "status": np.array(FIRM_STATUSES, dtype=object)[f.status],
        "latent_health": h[:, train_month],
    })
    return Region(
        firms=firms,
        records=records,
        relations=relations,
        guarantees=guar.drop(columns=["_src", "_dst"]).reset_index(drop=True),
        defaults=defaults,
        end=end_day,
        months=pd.DatetimeIndex(cal.ends.astype("datetime64[ns]")),
        health=h,
        truth=distortions.truth(f),
    )
