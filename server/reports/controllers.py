"""Report routes for the region's view (issue 14): the monthly credit index."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from server.deps import AppSettings
from server.reports import services
from server.reports.schemas import CreditIndexOut
from server.users.security import requires

By = Literal["region", "section", "division", "town", "size"]


class CreditIndexController(Controller):
    path = "/api/reports"
    tags = ["reports"]

    @get("/credit-index", guards=[requires("analyst", "admin")],
         summary="The monthly credit index (base 100) of the region or of each group of a dimension",
         description=(
             "Chain-linked month on month over the firms present in both months, from scores, "
             "grades A/B, open red/yellow warnings and defaults; method in docs/credit-index.md. "
             "A group's month is published only with at least K firms besides one reader "
             "(`min_firms`); a month under it breaks the chain, which restarts at 100 "
             "(`restart`). `from`/`to` (YYYY-MM) only window the answer."))
    async def credit_index(
        self, settings: AppSettings,
        by: Annotated[By, QueryParameter(examples=[Example(value="section")])] = "region",
        group: Annotated[str | None, QueryParameter(max_length=50,
                                                    examples=[Example(value="C")])] = None,
        start: Annotated[str | None, QueryParameter(name="from", max_length=20,
                                                    examples=[Example(value="2024-01")])] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=20,
                                                  examples=[Example(value="2025-12")])] = None,
    ) -> CreditIndexOut:
        return await services.credit_index_report(by, group, start, end, settings.min_group_size)
