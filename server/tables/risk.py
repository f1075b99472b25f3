"""Risk warnings raised by the rules and by guarantee-circle contagion, and the snapshots
the risk jobs leave (scan results, the monthly macro index, drift checks)."""

from __future__ import annotations

from piccolo.columns import JSON, Date, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.firms import Firm


class Warning(Table, tablename="risk_warning"):
    """Raised once, updated while it lasts, closed when its rule clears.

    ``kind`` is the rule's warning kind (what subscribers filter on; "contagion" for DebtRank
    warnings); ``first_seen`` is when the condition began, when the records tell (a red
    firm's date for contagion); the messages are the finding's, figures filled in.
    """

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    rule_code = Varchar(length=30)
    level = Varchar(length=8)  # red / yellow / blue
    evidence = JSON(default={})
    opened_at = Timestamptz()
    updated_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
    kind = Varchar(length=20, default="")
    first_seen = Date(null=True, default=None)
    message_zh = Text(default="")
    message_en = Text(default="")


#: The kind of the ``risk_snapshot`` rows holding the departments' feed health of a scoring run.
FEED_HEALTH = "feed_health"


class RiskSnapshot(Table, tablename="risk_snapshot"):
    """What a risk job produced, as JSON: ``scan`` (a warning scan's counts, contagion and the
    expected draw on the guarantee fund), ``macro`` (the month's macro risk index rows),
    ``drift`` (a scoring run's population stability against the model's training sample) and
    ``feed_health`` (each department's coverage, lateness and disagreement at a full scoring
    run, ``scoring.authenticity.feed_health``)."""

    kind = Varchar(length=20)
    as_of = Date()
    data = JSON(default={})
    created_at = Timestamptz()
