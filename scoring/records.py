"""The shared vocabulary of department records.

Every department feed is stored as rows of one long table (``dept_record`` in the server)
and handed to the scoring library as a pandas DataFrame with exactly the columns of
``RECORD_COLUMNS``. A record is *known* from ``event_date`` on: features computed "as of" a
date only ever read rows with ``event_date <= as_of`` (no look-ahead). A record that stops
being true later (a lawsuit closed, a listing removed, a seizure lifted, arrears paid) carries
``end_date``; it is active at ``as_of`` when ``event_date <= as_of`` and (``end_date`` is
missing or ``end_date > as_of``).

Money is integer fen (分). ``quantity`` is a plain number whose unit the kind fixes.

A *history* frame (for training on past dates) adds ``HISTORY_COLUMNS``: ``known_from``, when
the platform knew the row (the moment it arrived; for a department's back-filled archive its
event date), and ``superseded_at``, when a correction replaced it (NaT while it is the current
version). ``known_at(history, d)`` is what the platform knew on day ``d``, each fact in the
version valid then; ``current_versions(history)`` is what it knows now (labels read these).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "FIRM_COLUMNS",
    "HISTORY_COLUMNS",
    "RECORD_COLUMNS",
    "RECORD_KINDS",
    "STATEMENT_ITEMS",
    "RecordKind",
    "current_versions",
    "is_history",
    "known_at",
    "rows_where",
]

#: Columns of the long records frame handed to ``scoring`` (dtype in brackets).
RECORD_COLUMNS: tuple[str, ...] = (
    "uscc",  # str, 18-char unified social credit code of the firm
    "kind",  # str, one of RECORD_KINDS
    "event_date",  # datetime64[ns] (date), when the fact became known / period end
    "end_date",  # datetime64[ns] or NaT, when it stopped being true
    "category",  # str or None, kind-specific sub-type (see RecordKind.categories)
    "amount_fen",  # Int64 or <NA>, main money figure of the record
    "arrears_fen",  # Int64 or <NA>, money owed and overdue (tax, premiums, utility bills, interest)
    "quantity",  # float or NaN, kind-specific quantity (kWh, headcount, m², score ...)
    "days",  # Int64 or <NA>, overdue days (bank loans)
    "status",  # str or None, e.g. "open"/"closed" for court cases
    "attrs",  # dict or None, extra fields (financial statement items, see STATEMENT_ITEMS)
)

#: Extra columns of a history frame (datetime64[ns], no time zone; NaT where absent).
HISTORY_COLUMNS: tuple[str, ...] = ("known_from", "superseded_at")


def is_history(records: pd.DataFrame) -> bool:
    return all(c in records.columns for c in HISTORY_COLUMNS)


def known_at(records: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """The rows the platform knew on day ``as_of`` (known by the end of that day and not yet
    replaced by a correction), as a plain records frame. A frame without history columns is
    returned as it is (every row counts as known from its event date)."""
    if not is_history(records):
        return records
    day = pd.Timestamp(as_of).normalize()
    known = records["known_from"] < day + pd.Timedelta(days=1)
    valid = records["superseded_at"].isna() | (records["superseded_at"] >= day + pd.Timedelta(days=1))
    return _plain(records, known & valid)


def current_versions(records: pd.DataFrame) -> pd.DataFrame:
    """The rows no correction has replaced (what the platform knows now), as a plain records
    frame; a frame without history columns is returned as it is."""
    if not is_history(records):
        return records
    return _plain(records, records["superseded_at"].isna())


def _plain(records: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
    """The kept rows' record columns (see :func:`rows_where`)."""
    return rows_where(records, keep, RECORD_COLUMNS)


def rows_where(records: pd.DataFrame, keep: pd.Series | np.ndarray,
               columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``records`` where ``keep`` is true, with every column or ``columns``, for
    frames of millions of rows. When every row is kept the columns are shared, not copied (a
    region's records are gigabytes, and records frames are only read: functions that change a
    column make a new frame); otherwise each column is taken once (a boolean ``.loc`` or ``[]``
    held a second full copy on the way)."""
    names = list(records.columns if columns is None else columns)
    keep = np.asarray(keep, dtype=bool)
    if keep.all():
        return pd.DataFrame({c: records[c] for c in names}, copy=False)
    rows = np.flatnonzero(keep)
    return pd.DataFrame({c: records[c].array.take(rows) for c in names},
                        index=records.index[rows], copy=False)


#: Columns of the firms frame handed to ``scoring``.
FIRM_COLUMNS: tuple[str, ...] = (
    "uscc",
    "name",
    "industry_section",  # GB/T 4754 section letter, A..T
    "industry_division",  # GB/T 4754 two-digit division code, "01".."97"
    "town",
    "registered_capital_fen",
    "founded_on",  # datetime64[ns]
    "size_class",  # micro / small / medium / large
    "status",  # active / suspended / revoked / cancelled
)

#: Items of an annual financial statement, kept in ``attrs`` (all integer fen).
STATEMENT_ITEMS: tuple[str, ...] = (
    "year",  # the fiscal year reported (an int, not money)
    "revenue",
    "cost_of_sales",
    "net_profit",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "inventory",
    "receivables",
    "equity",
    "operating_cash_flow",
    "interest_expense",
)


@dataclass(frozen=True, slots=True)
class RecordKind:
    """One kind of department record: what its generic columns mean."""

    code: str
    department: str
    name_zh: str
    name_en: str
    categories: tuple[str, ...] = ()
    amount: str = ""  # meaning of amount_fen, "" = unused
    arrears: str = ""  # meaning of arrears_fen
    quantity: str = ""  # meaning and unit of quantity
    days: str = ""  # meaning of days
    statuses: tuple[str, ...] = ()
    has_end: bool = False  # whether end_date is meaningful
    monthly: bool = False  # one record per firm (and category) per month, event_date = month end
    #: optional text fields of the feed kept in ``attrs`` (the utility's meter number and supply
    #: address, which tell readings of a meter shared by several firms apart)
    attr_fields: tuple[str, ...] = ()


_KINDS = (
    RecordKind("tax_monthly", "tax", "月度纳税", "Monthly tax paid", ("vat", "income"),
               amount="tax paid in the month", arrears="tax owed and overdue at month end",
               monthly=True),
    RecordKind("social_insurance", "hrss", "社保医保参保", "Social and medical insurance",
               ("pension", "medical"), amount="premiums paid in the month",
               arrears="premiums overdue at month end", quantity="insured headcount",
               monthly=True),
    RecordKind("utility", "utilities", "水电气用量", "Utility use", ("electricity", "water", "gas"),
               amount="bill for the month", arrears="bills overdue at month end",
               quantity="use in the month (kWh / m³ / m³)", monthly=True,
               attr_fields=("meter_id", "supply_address")),
    RecordKind("court_case", "court", "涉诉案件", "Court case", ("plaintiff", "defendant"),
               amount="amount in dispute", statuses=("open", "closed"), has_end=True),
    RecordKind("dishonest_debtor", "court", "失信被执行人", "Dishonest-debtor listing",
               amount="amount owed under the judgment", has_end=True),
    RecordKind("penalty", "market", "行政处罚", "Administrative penalty", ("minor", "major"),
               amount="fine", has_end=False),
    RecordKind("credit_list", "development", "红黑名单", "Red or black list", ("red", "black"),
               has_end=True),
    RecordKind("real_estate", "natural_resources", "不动产", "Real estate owned",
               amount="assessed value", quantity="floor area m²", has_end=True),
    RecordKind("seizure_mortgage", "natural_resources", "查封抵押", "Seizure or mortgage",
               ("seizure", "mortgage"), amount="amount secured", has_end=True),
    RecordKind("customs_export", "customs", "海关出口", "Customs exports",
               amount="export value in the month", monthly=True),
    RecordKind("bank_loan", "bank", "银行贷款", "Bank loans",
               amount="outstanding balance at month end", arrears="interest overdue",
               days="days principal or interest is overdue (max over loans)", monthly=True),
    RecordKind("financial_statement", "tax", "年度财务报表", "Annual financial statement",
               amount="revenue (same as attrs.revenue)"),
    RecordKind("patent_honour", "science", "专利荣誉", "Patents and honours",
               ("invention", "utility_model", "design", "honour", "high_tech"), has_end=True),
    RecordKind("personal_credit", "bank", "法人个人信用", "Legal representative's credit score",
               quantity="personal credit score, 350..950"),
    RecordKind("registry_change", "market", "工商变更", "Registry change",
               ("legal_rep", "shareholder", "address", "capital", "name")),
)

#: All record kinds by code.
RECORD_KINDS: dict[str, RecordKind] = {k.code: k for k in _KINDS}

#: GB/T 4754-2017 sections: letter -> (first division, last division, Chinese name, English name).
INDUSTRY_SECTIONS: dict[str, tuple[int, int, str, str]] = {
    "A": (1, 5, "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": (6, 12, "采矿业", "Mining"),
    "C": (13, 43, "制造业", "Manufacturing"),
    "D": (44, 46, "电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water"),
    "E": (47, 50, "建筑业", "Construction"),
    "F": (51, 52, "批发和零售业", "Wholesale and retail"),
    "G": (53, 60, "交通运输、仓储和邮政业", "Transport, storage and post"),
    "H": (61, 62, "住宿和餐饮业", "Accommodation and catering"),
    "I": (63, 65, "信息传输、软件和信息技术服务业", "Information technology"),
    "J": (66, 69, "金融业", "Finance"),
    "K": (70, 70, "房地产业", "Real estate"),
    "L": (71, 72, "租赁和商务服务业", "Leasing and business services"),
    "M": (73, 75, "科学研究和技术服务业", "Research and technical services"),
    "N": (76, 79, "水利、环境和公共设施管理业", "Water, environment and public facilities"),
    "O": (80, 82, "居民服务、修理和其他服务业", "Resident and repair services"),
    "P": (83, 83, "教育", "Education"),
    "Q": (84, 85, "卫生和社会工作", "Health and social work"),
    "R": (86, 90, "文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": (91, 96, "公共管理、社会保障和社会组织", "Public administration"),
    "T": (97, 97, "国际组织", "International organisations"),
}


def section_of(division: str) -> str | None:
    """The GB/T 4754 section letter of a two-digit division code, or None if there is none."""
    if len(division) != 2 or not division.isdigit():
        return None
    d = int(division)
    for letter, (lo, hi, _zh, _en) in INDUSTRY_SECTIONS.items():
        if lo <= d <= hi:
            return letter
    return None


__all__ += ["INDUSTRY_SECTIONS", "section_of"]
