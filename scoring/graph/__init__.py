"""Guarantee circles, chains and DebtRank contagion over a region's relation graph.

Pure: frames in (guarantees, firm-person relations, capital), sparse matrices and frames out.
``build_network`` makes the graph; ``find_circles`` / ``chains`` / ``related_firms`` read its
structure; ``contagion`` spreads a red firm's distress with DebtRank; ``systemic_importance``
ranks the firms whose failure would hit most others; ``expected_fund_draw`` prices the fund's
share of the damage.
"""

from __future__ import annotations

from .debtrank import (
    Contagion,
    DebtRankResult,
    FundDraw,
    contagion,
    debtrank,
    debtrank_many,
    expected_fund_draw,
    impact_matrix,
    relative_value,
    systemic_importance,
)
from .network import (
    GUARANTEE_COLUMNS,
    RELATION_COLUMNS,
    TIE_ROLES,
    GuaranteeNetwork,
    build_network,
    capital_buffer,
)
from .structure import (
    Circles,
    chains,
    find_circles,
    reach_counts,
    related_firms,
    related_groups,
)

__all__ = [
    "GUARANTEE_COLUMNS",
    "RELATION_COLUMNS",
    "TIE_ROLES",
    "Circles",
    "Contagion",
    "DebtRankResult",
    "FundDraw",
    "GuaranteeNetwork",
    "build_network",
    "capital_buffer",
    "chains",
    "contagion",
    "debtrank",
    "debtrank_many",
    "expected_fund_draw",
    "find_circles",
    "impact_matrix",
    "reach_counts",
    "related_firms",
    "related_groups",
    "relative_value",
    "systemic_importance",
]
