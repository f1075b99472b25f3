"""What the risk engine tells the notification service: one warning raised, escalated or closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["EVENTS", "LEVELS", "RiskEvent"]

LEVELS = ("red", "yellow", "blue")
EVENTS = ("raised", "escalated", "closed")


@dataclass
class RiskEvent:
    """A change of one warning of one firm; ``notify_risk_events`` turns it into notifications."""

    firm_id: int
    uscc: str
    firm_name: str
    rule_code: str
    level: str  # red / yellow / blue
    kind: str  # the rule's warning kind (subscription filters); "contagion" for contagion
    title_zh: str
    title_en: str
    message_zh: str
    message_en: str
    evidence: dict[str, Any]  # JSON-ready; for contagion includes "path"
    event: str  # "raised" | "escalated" | "closed"
    warning_id: int
    at: datetime
