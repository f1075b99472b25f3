"""Finding a firm by the USCC a request names: checked, then looked up, with a 4xx naming the
field when it is malformed or unknown. Every route that takes a USCC goes through here."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException, ValidationException
from piccolo.columns import Column

from server.tables.firms import Firm
from server.texts import t
from server.uscc import uscc_error

__all__ = ["firm_by_uscc"]


async def firm_by_uscc(uscc: str, *columns: Column) -> dict[str, Any]:
    """The firm's ``id``, ``uscc`` and ``name`` (and any further ``columns``); 422 for a
    malformed code, 404 for a code no registered firm has."""
    code = uscc.strip().upper()
    problem = uscc_error(code)
    if problem:
        raise ValidationException(t("uscc: {problem}", problem=problem))
    firm = await Firm.select(Firm.id, Firm.uscc, Firm.name, *columns).where(Firm.uscc == code).first()
    if firm is None:
        raise NotFoundException(t("uscc: no firm with code {code} on the platform", code=code))
    return firm
