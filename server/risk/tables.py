"""Risk warnings raised by the rules and by guarantee-circle contagion."""

from __future__ import annotations

from piccolo.columns import JSON, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.firms.tables import Firm


class Warning(Table, tablename="risk_warning"):
    """Raised once, updated while it lasts, closed when its rule clears."""

    firm = ForeignKey(references=Firm, on_delete=OnDelete.cascade, index=True)
    rule_code = Varchar(length=30)
    level = Varchar(length=8)  # red / yellow / blue
    evidence = JSON(default={})
    opened_at = Timestamptz()
    updated_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)
