"""The guarantee fund and its ledger."""

from __future__ import annotations

from piccolo.columns import BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.tables.financing import Bank, LoanApplication


class GuaranteeFund(Table, tablename="guarantee_fund"):
    """Shares banks' losses on covered loans, within capacity limits."""

    name = Varchar(length=100)
    capital_fen = BigInt()
    limit_total_fen = BigInt()
    limit_per_firm_fen = BigInt()
    npl_limit_bp = Integer(default=300)  # a bank's NPL ratio above this suspends it
    share_a_pct = Integer(default=80)
    share_b_pct = Integer(default=60)
    share_c_pct = Integer(default=40)


class FundLedger(Table, tablename="fund_ledger"):
    """Every movement of the fund: capital, cover, release, claim, recovery; and ``default``, a
    memo of the principal outstanding at a covered loan's default (see server/fund/services.py).
    A loan has at most one ``cover``, ``release``, ``claim`` and ``default`` entry: the partial
    unique index ``fund_ledger_once``."""

    fund = ForeignKey(references=GuaranteeFund, on_delete=OnDelete.restrict, index=True)
    kind = Varchar(length=12)
    amount_fen = BigInt()
    application = ForeignKey(
        references=LoanApplication, null=True, default=None, on_delete=OnDelete.restrict
    )
    bank = ForeignKey(references=Bank, null=True, default=None, on_delete=OnDelete.restrict)
    at = Timestamptz()
    note = Text(default="")
