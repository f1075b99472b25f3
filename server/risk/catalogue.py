"""The warnings the platform raises: the rule catalogue of :mod:`scoring.risk` and the DebtRank
contagion warning (not in the catalogue: it needs the whole guarantee network), with their
titles, kinds and clearing texts, and the order of levels."""

from __future__ import annotations

from scoring.risk import RULES

__all__ = ["CONTAGION_CODE", "CONTAGION_CLEAR", "CONTAGION_KIND", "CONTAGION_MESSAGE",
           "CONTAGION_TITLE", "LEVEL_RANK", "MIN_DISTRESS", "RED_DISTRESS",
           "YELLOW_DISTRESS", "clear_texts", "contagion_level", "kind_of", "titles"]

#: The DebtRank contagion warning (not in the rule catalogue: it needs the whole network).
CONTAGION_CODE = "C01_CONTAGION"
CONTAGION_KIND = "contagion"
#: Distress (share of capital lost, DebtRank's h) below which a firm is not warned.
MIN_DISTRESS = 0.01
#: Distress from which the contagion warning is red / yellow (blue below).
RED_DISTRESS = 0.5
YELLOW_DISTRESS = 0.1
#: Level order, for telling an escalation.
LEVEL_RANK = {"blue": 0, "yellow": 1, "red": 2}

CONTAGION_TITLE = ("担保链风险传导（DebtRank）", "Guarantee-chain contagion (DebtRank)")
CONTAGION_MESSAGE = (
    "红色预警企业{source_name}的风险经{hops}层担保关系传导至本企业（{path_text}）：本企业为"
    "受影响企业担保{exposure_fen:yuan}元，预计代偿损失{loss_fen:yuan}元，约为资本的{distress:.0%}",
    "Distress of the red-flagged {source_name} reaches this firm through {hops} guarantee "
    "link(s) ({path_text}): it guarantees {exposure_fen:yuan} yuan of distressed firms' loans, "
    "expected calls {loss_fen:yuan} yuan, about {distress:.0%} of its capital",
)
CONTAGION_CLEAR = ("传导压力降至资本的1%以下，或相关担保到期、红色预警解除",
              "Distress below 1% of capital, or the guarantees end or the red warnings clear")


def contagion_level(distress: float) -> str:
    if distress >= RED_DISTRESS:
        return "red"
    return "yellow" if distress >= YELLOW_DISTRESS else "blue"


def titles(code: str) -> tuple[str, str]:
    rule = RULES.get(code)
    return (rule.title_zh, rule.title_en) if rule else CONTAGION_TITLE


def clear_texts(code: str) -> tuple[str, str]:
    rule = RULES.get(code)
    return rule.clear_texts() if rule else CONTAGION_CLEAR


def kind_of(code: str) -> str:
    rule = RULES.get(code)
    return rule.kind if rule else CONTAGION_KIND
