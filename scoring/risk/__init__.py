"""Risk warnings: a catalogue of red / yellow / blue rules evaluated over department records
as of a date, and the reconciliation that raises, updates and closes warnings.

Pure like the rest of :mod:`scoring`: frames in, findings out; it never imports ``server``.
"""

from __future__ import annotations

from .context import RedPartners
from .engine import (
    Close,
    Finding,
    Reconciliation,
    Update,
    catalogue,
    evaluate,
    findings_frame,
    reconcile,
    red_firms,
    runnable,
)
from .rules import KINDS, LEVELS, RULES, Rule

__all__ = [
    "KINDS",
    "LEVELS",
    "RULES",
    "Close",
    "Finding",
    "Reconciliation",
    "RedPartners",
    "Rule",
    "Update",
    "catalogue",
    "evaluate",
    "findings_frame",
    "reconcile",
    "red_firms",
    "runnable",
]
