"""Hard overrides: facts that make a firm grade D whatever its scorecard points say.

A scorecard adds up evidence; some facts are not evidence but the outcome itself. A firm that
is in default now (its latest bank report is 90+ days overdue, or the loan stopped reporting
while overdue: written off), a firm listed as a dishonest debtor, and a firm whose licence was
revoked or that was deregistered must not be shown a good grade, however many neutral or
"no data" points it collects. These rules are read from the firm's department records "as of"
the scoring date with the same no-look-ahead reading as :mod:`scoring.features`: only rows with
``event_date <= as_of``; a fact with ``end_date <= as_of`` is over (arrears paid, listing
removed). A hit caps the score at the top of the D band and raises the PD to at least D's lower
bound, so grade, score and PD agree, and it is named as the firm's first reason, citing the
record that triggered it.

Revoked and deregistered firms are graded D rather than excluded: an excluded firm shows no
grade at all, which a bank can read as "unknown" rather than "do not lend"; D with the reason
"licence revoked" says exactly that. The registry status has no date in the firms frame (it is
the status as known now), so it is read only for dates on or after ``status_known_on``: a status
known today says nothing about a back-score of last year.

Rule sets are immutable and versioned like weight profiles: each revision (a rule enabled or
disabled, a threshold changed) is a new version with an audit entry naming who and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ._known import _NAT, KnownRecords
from .errors import InvalidValue
from .explain import Reason
from .grades import GradeBands, ScoreScale

__all__ = [
    "DEFAULT_RULES",
    "OVERRIDE_GRADE",
    "RULE_CODES",
    "OverrideAudit",
    "OverrideRule",
    "OverrideRuleSet",
    "apply_overrides",
    "evaluate_overrides",
    "new_override_dates",
    "override_columns",
    "override_reasons",
    "override_reasons_of",
]

#: The grade every override forces (the worst grade of the bands).
OVERRIDE_GRADE = "D"

#: Rule codes, in the order their reasons are listed (the most severe fact first).
RULE_CODES: tuple[str, ...] = ("bank_default", "dishonest_debtor", "registry_status")

#: Registry statuses the ``registry_status`` rule may name (of FIRM_COLUMNS ``status``).
REGISTRY_STATUSES: tuple[str, ...] = ("suspended", "revoked", "cancelled")
_STATUS_WORDS = {"suspended": ("停业", "suspended"), "revoked": ("吊销营业执照", "licence revoked"),
                 "cancelled": ("注销", "deregistered")}

_MIN_DAYS_RANGE = (30, 365)  # a "default" threshold outside this is a typo, not a policy
# A loan whose last report is this many days older than the scoring date has stopped
# reporting while overdue: the bank wrote it off (or sold it); it is not cured.
_STALE_DAYS = 45


@dataclass(frozen=True, slots=True)
class OverrideRule:
    """One override rule: ``code`` (one of RULE_CODES), on or off, and its threshold.

    ``min_days`` (``bank_default`` only): days overdue from which a loan is in default.
    ``statuses`` (``registry_status`` only): registry statuses that force D.
    """

    code: str
    enabled: bool = True
    min_days: int | None = None
    statuses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in RULE_CODES:
            raise InvalidValue("code: unknown rule {code!r} (known: {known})", code=self.code,
                               known=", ".join(RULE_CODES))
        if self.code == "bank_default":
            lo, hi = _MIN_DAYS_RANGE
            if self.min_days is None or not lo <= self.min_days <= hi:
                raise InvalidValue("min_days: bank_default needs whole days in {lo}..{hi}", lo=lo, hi=hi)
        elif self.min_days is not None:
            raise InvalidValue("min_days: only bank_default has a day threshold, not {code}", code=self.code)
        if self.code == "registry_status":
            bad = [s for s in self.statuses if s not in REGISTRY_STATUSES]
            if bad or not self.statuses:
                raise InvalidValue("statuses: registry_status needs statuses among {statuses}",
                                   statuses=", ".join(REGISTRY_STATUSES))
        elif self.statuses:
            raise InvalidValue("statuses: only registry_status has statuses, not {code}", code=self.code)


#: The rules of version 1: default at 90 days (the Basel and PBoC "non-performing" line),
#: dishonest-debtor listings, revoked and deregistered firms.
DEFAULT_RULES: tuple[OverrideRule, ...] = (
    OverrideRule("bank_default", min_days=90),
    OverrideRule("dishonest_debtor"),
    OverrideRule("registry_status", statuses=("revoked", "cancelled")),
)


@dataclass(frozen=True, slots=True)
class OverrideAudit:
    """Who changed a rule set, when and why."""

    version: int
    changed_by: str
    changed_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class OverrideRuleSet:
    """A versioned, audited set of override rules (one per code)."""

    name: str
    version: int
    rules: tuple[OverrideRule, ...]
    reason: str
    created_by: str = ""
    history: tuple[OverrideAudit, ...] = field(default=())

    def __post_init__(self) -> None:
        codes = [r.code for r in self.rules]
        if len(set(codes)) != len(codes):
            raise ValueError("rules: each rule code at most once")

    @classmethod
    def default(cls, now: datetime | None = None, created_by: str = "system") -> OverrideRuleSet:
        """Version 1: DEFAULT_RULES."""
        return cls.create("overrides", DEFAULT_RULES, "default rule set", created_by, now)

    @classmethod
    def create(cls, name: str, rules: Iterable[OverrideRule], reason: str, created_by: str = "",
               now: datetime | None = None) -> OverrideRuleSet:
        """Version 1 of a rule set, with its first audit entry."""
        now = now or datetime.now(UTC)
        return cls(name, 1, tuple(rules), reason, created_by,
                   (OverrideAudit(1, created_by, now, reason),))

    def revise(self, *, changed_by: str, reason: str, rules: Iterable[OverrideRule],
               now: datetime | None = None) -> OverrideRuleSet:
        """A new version where the given rules replace those of the same code (the others
        stay); this one is unchanged."""
        now = now or datetime.now(UTC)
        given = {r.code: r for r in rules}
        merged = [given.pop(r.code, r) for r in self.rules] + list(given.values())
        v = self.version + 1
        return replace(self, version=v, reason=reason, created_by=changed_by,
                       rules=tuple(sorted(merged, key=lambda r: RULE_CODES.index(r.code))),
                       history=self.history + (OverrideAudit(v, changed_by, now, reason),))

    @property
    def label(self) -> str:
        """The version string stored with every score: ``<name>@v<n>``."""
        return f"{self.name}@v{self.version}"

    def rule(self, code: str) -> OverrideRule | None:
        """The enabled rule of ``code``, or None when it is off or absent."""
        return next((r for r in self.rules if r.code == code and r.enabled), None)

    def to_dict(self) -> dict[str, object]:
        """Plain data for storage (times as ISO strings)."""
        d = asdict(self)
        d["rules"] = [{**asdict(r), "statuses": list(r.statuses)} for r in self.rules]
        d["history"] = [{**asdict(h), "changed_at": h.changed_at.isoformat()} for h in self.history]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> OverrideRuleSet:
        rules = tuple(OverrideRule(str(r["code"]), bool(r.get("enabled", True)),
                                   None if r.get("min_days") is None else int(r["min_days"]),
                                   tuple(r.get("statuses") or ()))
                      for r in d["rules"])  # type: ignore[union-attr]
        hist = tuple(OverrideAudit(int(h["version"]), str(h["changed_by"]),
                                   datetime.fromisoformat(str(h["changed_at"])), str(h["reason"]))
                     for h in d.get("history", ()))  # type: ignore[union-attr]
        return cls(str(d["name"]), int(d["version"]), rules, str(d["reason"]),  # type: ignore[arg-type]
                   str(d.get("created_by", "")), hist)


def _last_per_firm(pos: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """Places of each firm's last row, ordered by ``keys`` (the last key sorts first)."""
    order = np.lexsort((*keys, pos))
    p = pos[order]
    return order[np.r_[p[1:] != p[:-1], True]] if len(p) else order


def evaluate_overrides(rule_set: OverrideRuleSet, firms: pd.DataFrame | pd.Index,
                       records: pd.DataFrame, as_of: date | str | pd.Timestamp,
                       status_known_on: date | str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Which override rules hit each firm as of ``as_of``, with the record that triggered each.

    One row per firm (index uscc, in the order of ``firms``), a bool column per rule code
    (False when the rule is off) plus the evidence: ``bank_default_date`` (the overdue report),
    ``bank_default_days``, ``bank_default_written_off`` (no report since), ``dishonest_debtor_date``
    and ``dishonest_debtor_amount_fen``, ``registry_status_status``; ``overridden`` is any hit.
    ``firms`` supplies ``status`` for the registry rule (read only when ``as_of`` is on or
    after ``status_known_on``; None: the status is taken as known on every date).
    """
    ts = pd.Timestamp(as_of).normalize()
    index = pd.Index(firms["uscc"].to_numpy() if isinstance(firms, pd.DataFrame) else firms,
                     name="uscc")
    n = len(index)
    out = pd.DataFrame(index=index)
    known = KnownRecords(records, ts, index)

    bank = rule_set.rule("bank_default")
    hit = np.zeros(n, dtype=bool)
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    days_out = np.full(n, np.nan)
    written_off = np.zeros(n, dtype=bool)
    if bank is not None:
        rows = known.kind("bank_loan")
        if len(rows):
            days = rows.values("days")
            # The firm's latest report decides (a later report under the line is a cure); of
            # several reports that day, the most overdue one.
            last = _last_per_firm(rows.pos, np.nan_to_num(days, nan=-1.0), rows.event)
            end = known.dates("end_date", rows.idx)[last]
            ended = (end != _NAT) & (end <= known.as_of_ns)  # arrears paid by the date
            bad = (days[last] >= float(bank.min_days or 0)) & ~ended
            pos = rows.pos[last][bad]
            hit[pos] = True
            when[pos] = rows.event[last][bad].view("datetime64[ns]")
            days_out[pos] = days[last][bad]
            stale = known.as_of_ns - rows.event[last][bad] > _STALE_DAYS * 86_400 * 10**9
            written_off[pos] = stale
    out["bank_default"] = hit
    out["bank_default_date"] = when
    out["bank_default_days"] = days_out
    out["bank_default_written_off"] = written_off

    listing = rule_set.rule("dishonest_debtor")
    hit = np.zeros(n, dtype=bool)
    when = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    amount = np.full(n, np.nan)
    if listing is not None:
        rows = known.kind("dishonest_debtor").active()
        if len(rows):
            last = _last_per_firm(rows.pos, rows.event)  # the newest listing is cited
            pos = rows.pos[last]
            hit[pos] = True
            when[pos] = rows.event[last].view("datetime64[ns]")
            amount[pos] = rows.values("amount_fen", last)
    out["dishonest_debtor"] = hit
    out["dishonest_debtor_date"] = when
    out["dishonest_debtor_amount_fen"] = amount

    registry = rule_set.rule("registry_status")
    status = np.full(n, None, dtype=object)
    hit = np.zeros(n, dtype=bool)
    known_now = status_known_on is None or ts >= pd.Timestamp(status_known_on).normalize()
    if registry is not None and known_now and isinstance(firms, pd.DataFrame) \
            and "status" in firms.columns:
        st = firms["status"].to_numpy(dtype=object)
        hit = np.isin(st, list(registry.statuses))
        status[hit] = st[hit]
    out["registry_status"] = hit
    out["registry_status_status"] = status
    out["overridden"] = out[list(RULE_CODES)].to_numpy().any(axis=1)
    return out


def new_override_dates(rule_set: OverrideRuleSet, firms: pd.DataFrame, records: pd.DataFrame,
                       since: date | str | pd.Timestamp, until: date | str | pd.Timestamp,
                       then: pd.DataFrame | None = None) -> pd.Series:
    """The day each firm became subject to a hard rule after ``since`` (NaT: none did).

    A firm counts when a rule hits it on ``until`` but not on ``since``; its day is the date of
    the newest record that made a rule hit (the overdue report, the listing), at most ``until``.
    This is the serious event a firm is re-scored for at once, as of that day, instead of at the
    next month end (the registry status is read as known on both days, so a change of it is no
    event here: it applies to the latest score already). ``then``: the rules' hits on ``since``
    when already evaluated (``RegionScores.overrides`` of a scoring as of ``since``)."""
    if then is None:
        then = evaluate_overrides(rule_set, firms, records, since, status_known_on=since)
    now = evaluate_overrides(rule_set, firms, records, until, status_known_on=since)
    new = now["overridden"].to_numpy() & ~then["overridden"].to_numpy()
    cols = [f"{code}_date" for code in RULE_CODES if f"{code}_date" in now.columns]
    dates = pd.DataFrame({c: pd.to_datetime(now[c]).where(now[c[:-5]]) for c in cols}, index=now.index)
    day = dates.max(axis=1) if cols else pd.Series(pd.NaT, index=now.index, dtype="datetime64[ns]")
    start, end = pd.Timestamp(since).normalize(), pd.Timestamp(until).normalize()
    day = day.where(day > start, end).clip(upper=end)  # no dated record after ``since``: ``until``
    return day.where(new).rename("override_date")


def top_score(bands: GradeBands, scale: ScoreScale, grade: str = OVERRIDE_GRADE) -> int:
    """The highest integer score (0..1000) graded ``grade``, read off the model's own scale and
    bands the way the scorecard grades a score (so a capped score and its grade agree); 0 when
    no score of the scale reaches the grade (a degenerate scale: the grade is then forced)."""
    k = bands.grades.index(grade)
    lower_pd = 0.0 if k == 0 else bands.upper[k - 1]

    def grade_of(s: float) -> str:
        return str(bands.assign(1.0 / (1.0 + np.exp(-scale.bad_logit(np.asarray([s])))))[0])

    if k == 0:
        return 1000
    lp = float(np.clip(lower_pd, 1e-12, 1 - 1e-12))
    s = int(np.clip(np.floor(scale.points(np.log(lp / (1 - lp)))), 0, 1000))
    while s < 1000 and grade_of(s + 1) == grade:  # float edges: settle on the last one
        s += 1
    while s > 0 and grade_of(s) != grade:
        s -= 1
    return s


def apply_overrides(score: np.ndarray, pd_: np.ndarray, grade: np.ndarray,
                    overridden: np.ndarray, bands: GradeBands,
                    scale: ScoreScale) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores capped at the top of the D band, PDs raised to at least D's lower bound (and
    the capped score's PD), grade D, for the overridden rows; others unchanged.

    Returns (score, pd, grade, points): ``points`` is each row's change of score (<= 0), the
    override's contribution, so that the shown points still add up to the score.
    """
    score = np.asarray(score).astype(np.int32, copy=True)
    pd_ = np.asarray(pd_, dtype=float).copy()
    grade = np.asarray(grade, dtype=object).copy()
    hit = np.asarray(overridden, dtype=bool)
    cap = top_score(bands, scale)
    capped = np.minimum(score, cap)
    points = np.where(hit, capped - score, 0).astype(np.int32)
    k = bands.grades.index(OVERRIDE_GRADE)
    floor = bands.upper[k - 1] if k else 0.0
    capped_pd = 1.0 / (1.0 + np.exp(-scale.bad_logit(capped.astype(float))))
    pd_ = np.where(hit, np.maximum(np.maximum(pd_, floor), capped_pd), pd_)
    score = np.where(hit, capped, score).astype(np.int32)
    grade[hit] = OVERRIDE_GRADE
    return score, pd_, grade, points


def _day(v: object) -> str:
    return str(pd.Timestamp(v).date())


#: What :func:`override_reasons` reads of a row of :func:`evaluate_overrides`.
_REASON_COLUMNS = ("bank_default", "bank_default_date", "bank_default_days", "bank_default_written_off",
                   "dishonest_debtor", "dishonest_debtor_date", "dishonest_debtor_amount_fen",
                   "registry_status", "registry_status_status")


def override_reasons(hits: pd.DataFrame, row: int, points: int = 0) -> list[Reason]:
    """The override reasons of one row (by position) of :func:`evaluate_overrides`, most severe
    first, in Chinese and English, each citing its record; ``points`` (the score change) is put
    on the first one. Empty when no rule hit."""
    return override_reasons_of({c: hits[c].iat[row] for c in _REASON_COLUMNS if c in hits.columns}, points)


def override_columns(hits: pd.DataFrame) -> dict[str, list[Any]]:
    """What :func:`override_reasons_of` reads of every row of :func:`evaluate_overrides`, as
    Python lists (the values ``Series.iat`` gives, read once for a region's rows)."""
    return {c: list(hits[c]) for c in _REASON_COLUMNS if c in hits.columns}


def override_reasons_of(h: Mapping[str, Any], points: int = 0) -> list[Reason]:
    """:func:`override_reasons` of one row given as its ``_REASON_COLUMNS`` values."""
    out: list[Reason] = []
    if h["bank_default"]:
        d, days = _day(h["bank_default_date"]), int(h["bank_default_days"])
        if h["bank_default_written_off"]:
            zh = f"强制D级：银行贷款违约未结清（{d} 报送逾期 {days} 天，此后无还款记录，视同核销）"
            en = (f"Grade D override: bank loan in default, unresolved ({d}: {days} days overdue, "
                  "no repayment reported since: written off)")
        else:
            zh = f"强制D级：银行贷款逾期90天以上未结清（{d} 报送逾期 {days} 天）"
            en = f"Grade D override: bank loan 90+ days overdue, unresolved ({d}: {days} days overdue)"
        out.append(Reason("override:bank_default", 0, {"event_date": d, "days": days}, zh, en,
                          "结清逾期贷款并由银行报送后恢复正常评分",
                          "Repay the overdue loan; normal scoring resumes once the bank reports it",
                          None))
    if h["dishonest_debtor"]:
        d = _day(h["dishonest_debtor_date"])
        amt = h["dishonest_debtor_amount_fen"]
        yuan = "" if pd.isna(amt) else f"，涉及金额 {float(amt) / 100:,.0f} 元"
        yuan_en = "" if pd.isna(amt) else f", CNY {float(amt) / 100:,.0f}"
        out.append(Reason("override:dishonest_debtor", 0, {"event_date": d},
                          f"强制D级：被列为失信被执行人（{d} 列入{yuan}）",
                          f"Grade D override: listed as a dishonest debtor (listed {d}{yuan_en})",
                          "履行判决义务并申请移出失信名单",
                          "Satisfy the judgment and apply to be removed from the list", None))
    if h["registry_status"]:
        s = str(h["registry_status_status"])
        zh, en = _STATUS_WORDS.get(s, (s, s))
        out.append(Reason("override:registry_status", 0, {"status": s},
                          f"强制D级：工商登记状态为{zh}", f"Grade D override: registry status {en}",
                          "经营主体资格恢复前不予正常评级",
                          "No normal grade until the firm's registration is restored", None))
    if out:
        out[0] = replace(out[0], points=int(points))
    return out
