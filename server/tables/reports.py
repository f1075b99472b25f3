"""The region's reports kept for their readers: the annual credit-index report."""

from __future__ import annotations

from piccolo.columns import Bytea, Integer, Timestamptz, Varchar
from piccolo.table import Table

__all__ = ["AnnualReport"]


class AnnualReport(Table, tablename="annual_report"):
    """One year's report in one language (``key`` = ``"2025-zh"``), as the PDF it was, with the
    data version it was made from: a reader is handed it while that version is current, and a
    new one is made (replacing it) once the data changed."""

    key = Varchar(length=12, unique=True)
    year = Integer()
    lang = Varchar(length=2)
    data_version = Varchar(length=120)
    generated_at = Timestamptz()
    pages = Integer(default=0)
    size_bytes = Integer(default=0)
    pdf = Bytea()
