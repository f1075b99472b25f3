"""Evaluating the warning rules as of a date, and reconciling the findings with the warnings
already open.

``evaluate`` runs every rule (or some) over all firms (or a subset: the firms an ingested
batch touched); each rule's answer for a firm depends on that firm's own rows and on facts
the caller passes (score history, red partners), so a subset gets exactly the findings a full
scan gives those firms. ``reconcile`` turns findings into the warning life cycle: raised once,
updated while it lasts, closed when it clears, keyed by (uscc, rule_code).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .context import Context, Hits, RedPartners, timestamp
from .rules import KINDS, LEVELS, RULES, Rule, fields, render

__all__ = [
    "Close",
    "Finding",
    "Reconciliation",
    "Update",
    "catalogue",
    "evaluate",
    "findings_frame",
    "merge_passes",
    "reconcile",
    "red_firms",
    "runnable",
    "scan_passes",
]

# Figures whose names end like this are whole numbers (fen, days, counts, months, years).
_WHOLE = ("_fen", "days", "_count", "months", "headcount", "year", "bands")


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule firing for one firm as of a date.

    ``evidence`` is JSON-ready: ``figures`` (the numbers and dates that fired it) and
    ``records`` (references to the department records behind them: kind, event_date and,
    when the frame has them, ``record_id`` / ``record_key``). ``first_seen`` is when the
    condition began, when the records tell (else None).
    """

    uscc: str
    rule_code: str
    level: str
    kind: str
    evidence: dict[str, Any]
    message_zh: str
    message_en: str
    clear_zh: str
    clear_en: str
    first_seen: date | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.uscc, self.rule_code


def _select(rules: Iterable[str | Rule] | None) -> list[Rule]:
    if rules is None:
        return list(RULES.values())
    out = []
    for r in rules:
        if isinstance(r, Rule):
            out.append(r)
        elif r in RULES:
            out.append(RULES[r])
        else:
            raise ValueError(f"rules: unknown rule code {r!r}")
    return out


def _universe(records: pd.DataFrame, firms: pd.DataFrame | None,
              subset: Iterable[str] | None) -> pd.Index:
    if subset is not None:
        return pd.Index(pd.unique(pd.Series([str(u) for u in subset], dtype=object)),
                        name="uscc")
    if firms is not None:
        return pd.Index(pd.unique(firms["uscc"].astype(str)), name="uscc")
    return pd.Index(np.sort(records["uscc"].astype(str).unique()), name="uscc")


def evaluate(records: pd.DataFrame, firms: pd.DataFrame | None,
             as_of: date | str | pd.Timestamp, *, firms_subset: Iterable[str] | None = None,
             scores: pd.DataFrame | None = None, red_partners: RedPartners | None = None,
             rules: Iterable[str | Rule] | None = None, cells: pd.DataFrame | None = None,
             read_rows: set[str] | None = None) -> list[Finding]:
    """Every rule's findings as of ``as_of``, ordered by firm then catalogue order.

    ``records`` is a ``RECORD_COLUMNS`` frame (an optional ``record_id`` or ``record_key``
    column is cited in the evidence); ``firms`` a ``FIRM_COLUMNS`` frame fixing the universe
    (or None: every firm in ``records``); ``firms_subset`` restricts evaluation to some firms.
    ``scores`` (uscc, as_of, score, grade) feeds the rating rules and ``red_partners`` the
    contagion rules; without them those rules find nothing. Nothing dated after ``as_of`` is
    read.

    ``cells`` (the feature store's, ``scoring.feature_store``): the monthly grids and which
    months have records are read from them, so ``records`` may leave out the store-only kinds
    (the first pass of :func:`scan_passes`); the codes of the rules that read rows of those
    kinds all the same (for their evidence, their start dates) are added to ``read_rows``.
    """
    index = _universe(records, firms, firms_subset)
    ctx = Context(records, as_of, index, firms, scores, red_partners, cells=cells)
    selected = _select(rules)
    found: list[Finding] = []
    for rule in selected:
        ctx.touched.clear()
        found.extend(_findings(rule, rule.evaluate(ctx), ctx))
        if ctx.touched and read_rows is not None:
            read_rows.add(rule.code)
    return _ordered(found, list(index), selected)


def _ordered(found: list[Finding], universe: list[str], selected: list[Rule]) -> list[Finding]:
    order = {u: i for i, u in enumerate(universe)}
    rank = {r.code: i for i, r in enumerate(selected)}
    return sorted(found, key=lambda f: (order[f.uscc], rank[f.rule_code]))


def scan_passes(first: list[Finding], read_rows: set[str]) -> list[str]:
    """The firms a scan's second pass must evaluate again with all their records: those that a
    rule reading the store-only kinds' rows found in the first pass (``evaluate`` with
    ``cells``), in first-found order.

    Exact because every rule's mask reads the monthly feeds only through their grids and which
    months have records, both of which the cells give as the rows do; only the evidence and the
    start dates read the rows. So the first pass finds every firm such a rule finds, and the
    second pass, with the rows, gives those firms exactly the findings one pass over every
    record gives (a rule's answer for a firm depends on that firm's rows only). Checked rule by
    rule in ``tests/unit/scoring/test_risk_passes.py``."""
    return list(dict.fromkeys(f.uscc for f in first if f.rule_code in read_rows))


def merge_passes(first: list[Finding], second: list[Finding], again: Iterable[str], universe: Iterable[str],
                 rules: Iterable[str | Rule] | None = None) -> list[Finding]:
    """The findings of a scan in two passes: the first pass's, except for the firms ``again``,
    whose findings are the second pass's; in ``evaluate``'s order over ``universe``."""
    redone = set(again)
    return _ordered([f for f in first if f.uscc not in redone] + second, [str(u) for u in universe],
                    _select(rules))


def _jsonable(name: str, values: np.ndarray) -> list[Any]:
    """Figure values as JSON-ready Python scalars (None when missing)."""
    v = np.asarray(values)
    if np.issubdtype(v.dtype, np.datetime64):
        days = v.astype("datetime64[D]")
        return [None if np.isnat(d) else str(d) for d in days]
    if v.dtype == bool:
        return v.tolist()
    if np.issubdtype(v.dtype, np.number):
        f = v.astype(float)
        ok = np.isfinite(f)
        if name.endswith(_WHOLE):
            return [int(x) if o else None for x, o in zip(np.rint(np.where(ok, f, 0)).tolist(),
                                                          ok.tolist(), strict=True)]
        return [round(x, 4) if o else None for x, o in zip(f.tolist(), ok.tolist(), strict=True)]
    out = []
    for x in v.tolist():
        if x is None or (isinstance(x, float) and not np.isfinite(x)) or x is pd.NA:
            out.append(None)
        elif isinstance(x, np.generic):
            out.append(x.item())
        else:
            out.append(x)
    return out


def _findings(rule: Rule, hits: Hits, ctx: Context) -> list[Finding]:
    n = len(hits.pos)
    if not n:
        return []
    usccs = ctx.index.to_numpy()[hits.pos].tolist()
    names = list(hits.figures)
    columns = [_jsonable(k, hits.figures[k]) for k in names]
    refs = hits.refs if hits.refs is not None else [[] for _ in range(n)]
    since: list[date | None] = [None] * n
    if hits.since is not None:
        s = np.asarray(hits.since).astype("datetime64[D]")
        since = [None if np.isnat(d) else d.item() for d in s]
    params = dict(rule.params)
    clear_zh, clear_en = rule.clear_texts()
    clear_figures = (fields(rule.clear_zh) | fields(rule.clear_en)) - set(params)
    out = []
    for i in range(n):
        figures = {k: col[i] for k, col in zip(names, columns, strict=True)}
        values = {**params, **figures}
        if clear_figures:
            clear_zh, clear_en = rule.clear_texts(
                {k: v for k, v in figures.items() if k in clear_figures})
        out.append(Finding(
            uscc=str(usccs[i]), rule_code=rule.code, level=rule.level, kind=rule.kind,
            evidence={"figures": figures, "records": refs[i]},
            message_zh=render(rule.message_zh, values), message_en=render(rule.message_en, values),
            clear_zh=clear_zh, clear_en=clear_en, first_seen=since[i]))
    return out


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """The findings as a frame, one row each (evidence stays a dict)."""
    cols = ("uscc", "rule_code", "level", "kind", "evidence", "message_zh", "message_en",
            "clear_zh", "clear_en", "first_seen")
    return pd.DataFrame([[getattr(f, c) for c in cols] for f in findings], columns=list(cols))


def red_firms(findings: Iterable[Finding], as_of: date | str | pd.Timestamp
              ) -> dict[str, date]:
    """Firms with a red finding of their own (contagion rules excluded, so red does not
    feed on itself), with the earliest date known for it (``as_of`` when unknown): the
    ``red`` of a :class:`RedPartners`."""
    day = timestamp(as_of).date()
    out: dict[str, date] = {}
    for f in findings:
        if f.level != "red" or f.kind == "contagion":
            continue
        seen = f.first_seen or day
        out[f.uscc] = min(out.get(f.uscc, seen), seen)
    return out


# ---------------------------------------------------------------------------------------------
# reconciliation


@dataclass(frozen=True, slots=True)
class Update:
    """An open warning whose rule still fires: refresh it with the new finding.
    ``changed`` says whether its evidence or level differ from what is stored."""

    warning: Mapping[str, Any]
    finding: Finding
    changed: bool


@dataclass(frozen=True, slots=True)
class Close:
    """An open warning whose rule no longer fires, with the condition that was met."""

    warning: Mapping[str, Any]
    closed_at: date
    reason_zh: str
    reason_en: str


class Reconciliation(NamedTuple):
    to_raise: list[Finding]
    to_update: list[Update]
    to_close: list[Close]


def _as_mapping(w: object) -> Mapping[str, Any]:
    if isinstance(w, Mapping):
        return w
    return {k: getattr(w, k) for k in ("id", "uscc", "rule_code", "level", "evidence")
            if hasattr(w, k)}


def _evidence_json(e: object) -> str:
    if isinstance(e, str | bytes):
        try:
            e = json.loads(e)
        except ValueError:
            return str(e)
    return json.dumps(e, sort_keys=True, ensure_ascii=False, default=str)


def _clear_reason(rule: Rule, evidence: object) -> tuple[str, str]:
    """The rule's clear texts, with the figures of the stored evidence where they name any."""
    if isinstance(evidence, str | bytes):
        try:
            evidence = json.loads(evidence)
        except ValueError:
            evidence = None
    figures = evidence.get("figures") if isinstance(evidence, Mapping) else None
    if not isinstance(figures, Mapping):
        return rule.clear_texts()
    return rule.clear_texts({k: v for k, v in figures.items() if k not in rule.params})


def reconcile(open_warnings: Iterable[Mapping[str, Any] | object] | pd.DataFrame,
              findings: Iterable[Finding], as_of: date | str | pd.Timestamp, *,
              firms: Iterable[str] | None = None,
              rules: Iterable[str | Rule] | None = None) -> Reconciliation:
    """What to raise, update and close, keyed by (uscc, rule_code).

    ``open_warnings`` are the warnings currently open (mappings or objects with at least
    ``uscc`` and ``rule_code``; ``evidence`` and ``level`` tell whether an update changes
    anything). Only open warnings inside the evaluated scope can close: the firms evaluated
    (``firms``, None = all) and the rules run (``rules``, None = the whole catalogue; codes
    outside the catalogue, such as contagion warnings raised elsewhere, are never touched).
    A second open warning with the same key is closed as a duplicate.
    """
    day = timestamp(as_of).date()
    if isinstance(open_warnings, pd.DataFrame):
        open_list: list[Mapping[str, Any]] = open_warnings.to_dict("records")
    else:
        open_list = [_as_mapping(w) for w in open_warnings]
    scope_rules = {r.code if isinstance(r, Rule) else str(r) for r in
                   (RULES.values() if rules is None else rules)}
    scope_firms = None if firms is None else {str(u) for u in firms}
    by_key: dict[tuple[str, str], Finding] = {}
    for f in findings:
        by_key.setdefault(f.key, f)

    to_update: list[Update] = []
    to_close: list[Close] = []
    seen: set[tuple[str, str]] = set()
    for w in open_list:
        key = (str(w["uscc"]), str(w["rule_code"]))
        if key[1] not in scope_rules or (scope_firms is not None and key[0] not in scope_firms):
            continue
        f = by_key.get(key)
        if key in seen:
            to_close.append(Close(w, day, "重复的预警记录", "Duplicate warning"))
            continue
        seen.add(key)
        if f is None:
            zh, en = _clear_reason(RULES[key[1]], w.get("evidence")) if key[1] in RULES else (
                "规则已解除", "Rule cleared")
            to_close.append(Close(w, day, zh, en))
            continue
        changed = ("evidence" not in w or _evidence_json(w["evidence"]) != _evidence_json(
            f.evidence)) or ("level" in w and w["level"] != f.level)
        to_update.append(Update(w, f, changed))
    to_raise = [f for k, f in by_key.items() if k not in seen]
    return Reconciliation(to_raise, to_update, to_close)


# ---------------------------------------------------------------------------------------------
# catalogue


def runnable(*, scores: bool, red_partners: bool) -> list[str]:
    """Codes of the rules that can run with the inputs at hand (score history, red
    partners): pass them to ``reconcile(rules=...)`` so that warnings of rules that could not
    run are left open instead of closed."""
    out = []
    for r in RULES.values():
        if "scores" in r.sources and not scores:
            continue
        if r.kind == "contagion" and not red_partners:
            continue
        out.append(r.code)
    return out


def catalogue() -> list[dict[str, Any]]:
    """Every rule as plain data for the API: code, level, kind, texts, thresholds."""
    out = []
    for r in RULES.values():
        clear_zh, clear_en = r.clear_texts()
        out.append({
            "code": r.code, "level": r.level, "level_zh": LEVELS[r.level][0],
            "level_en": LEVELS[r.level][1], "kind": r.kind, "kind_zh": KINDS[r.kind][0],
            "kind_en": KINDS[r.kind][1], "dimension": r.dimension, "sources": list(r.sources),
            "title_zh": r.title_zh, "title_en": r.title_en,
            "message_zh": r.message_zh, "message_en": r.message_en,
            "clear_zh": clear_zh, "clear_en": clear_en,
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in r.params.items()},
        })
    return out
