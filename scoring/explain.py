"""Plain-language explanations: reason texts, improvement tips, industry comparison.

Reasons are the most negative contributions of a :class:`~scoring.scorecard.ScoreBatch`
(codes are computed vectorised at scoring time); texts are rendered here for the rows a person
looks at, in Chinese and English, from the indicator catalogue (or a generic template for
features of a generic tabular model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .features import COVERAGE_FEEDS
from .indicators import DIMENSIONS, INDICATORS
from .records import RECORD_KINDS
from .scorecard import ScoreBatch

__all__ = ["Reason", "describe_feeds", "dimension_label", "industry_comparison", "reason_table",
           "reasons_for", "reasons_of_rows"]


@dataclass(frozen=True, slots=True)
class Reason:
    """One adverse factor of one firm."""

    code: str
    points: int  # the (negative) contribution; improving to typical gains -points
    value: object
    text_zh: str
    text_en: str
    improve_zh: str
    improve_en: str
    dimension: str | None


_DECLINE_WORDS = ("下降", "减少", "收缩", "down", "shrank")

#: Who sends each department's feed, as a firm would name them (Chinese, English).
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "tax": ("税务部门", "the tax bureau"),
    "hrss": ("人社部门", "the human resources and social security bureau"),
    "utilities": ("水电气公司", "the utility companies"),
    "court": ("人民法院", "the people's court"),
    "market": ("市场监管部门", "the market regulation bureau"),
    "development": ("发展改革部门", "the development and reform commission"),
    "natural_resources": ("自然资源部门", "the natural resources bureau"),
    "customs": ("海关", "customs"),
    "bank": ("银行（征信）", "the banks (credit reference)"),
    "science": ("科技部门", "the science and technology bureau"),
}


#: Per feed, the indicators read from it alone (in ``INDICATORS`` order): a feed whose own
#: indicators all lack a value reports nothing on the firm.
_OWN_INDICATORS: dict[str, tuple[str, ...]] = {}
for _code, _ind in INDICATORS.items():
    if len(_ind.kinds) == 1:
        _OWN_INDICATORS[_ind.kinds[0]] = (*_OWN_INDICATORS.get(_ind.kinds[0], ()), _code)


def _missing_feeds(code: str, values: Mapping[str, object] | None) -> list[str]:
    """The coverage feeds an indicator reads that report nothing on the firm (judged from
    its other indicators; all of them without values); empty when the feeds report but too
    briefly for the indicator (a year-on-year change needs two years)."""
    kinds = [k for k in INDICATORS[code].kinds if k in COVERAGE_FEEDS] or list(
        INDICATORS[code].kinds)
    if values is None:
        return kinds
    absent = []
    for k in kinds:
        own = [c for c in _OWN_INDICATORS.get(k, ()) if c in values]
        if not own or all(_is_missing(values[c]) for c in own):
            absent.append(k)
    return absent


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)  # NaN


def _no_data_texts(code: str, feeds: list[str]) -> tuple[str, str, str, str]:
    """A "no data" reason: which department's feed is missing and how to fix it. It never
    promises points: what the firm's real data will score is not known until it arrives."""
    ind = INDICATORS[code]
    if not feeds:
        return (f"{ind.name_zh}所需的历史数据不足，无法计算，计分不高于一般水平",
                f"Too little history to compute {ind.name_en}; it "
                "scores no better than a typical firm's",
                "保持各部门数据按期报送，数据满足计算期限后将按实际情况重新评分",
                "Keep the department feeds coming; the score is recomputed once there is "
                "enough history")
    depts_zh, depts_en, names_zh, names_en = [], [], [], []
    for k in feeds:
        kind = RECORD_KINDS.get(k)
        dept = DEPARTMENTS.get(kind.department if kind else "", (k, k))
        depts_zh.append(dept[0])
        depts_en.append(dept[1])
        names_zh.append(kind.name_zh if kind else k)
        names_en.append(kind.name_en.lower() if kind else k)
    dz, de = "、".join(dict.fromkeys(depts_zh)), " and ".join(dict.fromkeys(depts_en))
    nz, ne = "、".join(names_zh), ", ".join(names_en)
    return (f"缺少{dz}报送的{nz}数据，{ind.name_zh}无法计算，计分不高于一般水平",
            f"No data from {de} ({ne}), so {ind.name_en} is unknown and scores no "
            "better than a typical firm's",
            f"请向{dz}授权或核对{nz}数据的报送，数据到位后将按实际情况重新评分",
            f"Authorise or correct the {ne} feed with {de}; the score is recomputed from "
            "the real data once it arrives")


def describe_feeds(kinds: list[str]) -> list[dict[str, str]]:
    """Each feed (a record kind) as a firm would name it, with the department that sends it."""
    out = []
    for k in kinds:
        kind = RECORD_KINDS.get(k)
        dept = DEPARTMENTS.get(kind.department if kind else "", (k, k))
        out.append({"kind": k, "name_zh": kind.name_zh if kind else k, "name_en": kind.name_en if kind else k,
                    "department_zh": dept[0], "department_en": dept[1]})
    return out


def _fmt(template: str, value: object) -> str:
    """Fill ``{value}``; falls are stated as positive percentages ("down 12%")."""
    v = float(value)  # type: ignore[arg-type]
    if _states_a_fall(template):
        v = abs(v)
    return template.format(value=v)


def _states_a_fall(template: str) -> bool:
    return "%}" in template and any(w in template for w in _DECLINE_WORDS)


def _reason(code: str, points: int, value: object, dimension: str | None,
            values: Mapping[str, object] | None = None) -> Reason:
    ind = INDICATORS.get(code)
    missing = _is_missing(value)
    if ind is not None:
        if missing:
            zh, en, imp_zh, imp_en = _no_data_texts(code, _missing_feeds(code, values))
            return Reason(code, points, None, zh, en, imp_zh, imp_en, ind.dimension)
        if _states_a_fall(ind.reason_en) and float(value) >= 0:  # type: ignore[arg-type]
            # Weak only relative to the typical firm (which grew faster): do not say "fell".
            zh = f"{ind.name_zh}低于一般水平（{float(value):+.0%}）"  # type: ignore[arg-type]
            en = f"{ind.name_en} below the typical firm ({float(value):+.0%})"  # type: ignore[arg-type]
        else:
            zh, en = _fmt(ind.reason_zh, value), _fmt(ind.reason_en, value)
        gain = -points
        imp_zh = f"{ind.improve_zh}（改善至一般水平约可加{gain}分）"
        imp_en = f"{ind.improve_en} (reaching a typical level adds about {gain} points)"
        return Reason(code, points, value, zh, en, imp_zh, imp_en, ind.dimension)
    shown = "缺失" if missing else value
    shown_en = "missing" if missing else value
    return Reason(code, points, value, f"{code} 取值 {shown} 拉低评分 {-points} 分",
                  f"{code} = {shown_en} lowers the score by {-points} points",
                  f"改善 {code} 至一般水平约可加 {-points} 分",
                  f"Bringing {code} to a typical level adds about {-points} points", dimension)


#: Why a suspect indicator is in doubt, per finding (``scoring.authenticity.SUSPECT``).
_DOUBT: dict[str, tuple[str, str]] = {
    "under_declaration": ("纳税申报与用电、社保数据不一致", "declared tax disagrees with electricity and headcount"),
    "property_assets": ("名下不动产评估值高于申报的总资产", "the property owned is assessed above the declared total assets"),
}


def _suspect_reasons(batch: ScoreBatch, row: int, listed: set[str]) -> list[Reason]:
    """The indicators of a row that another source put in doubt: each named, with why and the
    points it kept (at most those of an unknown value)."""
    from .authenticity import SUSPECT_CHECKS  # authenticity reads the risk package's context

    if batch.suspect is None or not batch.suspect[row].any():
        return []
    out = []
    values = batch.value_row(row)
    for j in np.flatnonzero(batch.suspect[row]):
        code = batch.features[j]
        check = SUSPECT_CHECKS[int(batch.suspect[row, j]) - 1]
        why_zh, why_en = _DOUBT.get(check, ("数据来源之间不一致", "the sources disagree"))
        ind = INDICATORS.get(code)
        name_zh, name_en = (ind.name_zh, ind.name_en) if ind is not None else (code, code)
        value = None if values is None else values[code]
        if isinstance(value, np.generic):
            value = value.item()
        points = int(batch.contributions[row, j])
        out.append(Reason(
            code, points, value,
            f"{name_zh}存疑：{why_zh}，该指标按未知处理，不计加分",
            f"{name_en} in doubt: {why_en}; it counts as unknown and earns no points",
            "核实并更正申报数据；记录有误可提出异议",
            "Check and correct the declared figures; dispute any record that is wrong",
            ind.dimension if ind is not None else None))
        listed.add(code)
    return out


def reasons_for(batch: ScoreBatch, row: int) -> list[Reason]:
    """The adverse reasons of one row (by position), worst first, then the indicators another
    source put in doubt (never used silently)."""
    return _row_reasons(batch, row, batch.reasons[row].tolist(), batch.reason_points[row].tolist(),
                        batch.suspect is not None and bool(batch.suspect[row].any()))


def reasons_of_rows(batch: ScoreBatch) -> list[list[Reason]]:
    """:func:`reasons_for` of every row, in order: the batch's arrays are read as Python
    lists once, not one row at a time (a region's run stores every firm's reasons)."""
    codes, points = batch.reasons.tolist(), batch.reason_points.tolist()
    doubted = [False] * len(batch) if batch.suspect is None else batch.suspect.any(axis=1).tolist()
    return [_row_reasons(batch, i, codes[i], points[i], doubted[i]) for i in range(len(batch))]


def _row_reasons(batch: ScoreBatch, row: int, codes: list[int], points: list[Any],
                 doubted: bool) -> list[Reason]:
    """The reasons of one row: ``codes`` and ``points`` are its row of ``batch.reasons`` and
    ``batch.reason_points``; ``doubted``: whether another source put any of its values in
    doubt."""
    out = []
    values = batch.value_row(row)
    for j, p in zip(codes, points, strict=True):
        if j < 0:
            continue
        code = batch.features[j]
        value = None if values is None else values[code]
        if isinstance(value, np.generic):
            value = value.item()
        ind = INDICATORS.get(code)
        out.append(_reason(code, int(p), value, None if ind is None else ind.dimension, values))
    if not doubted:
        return out
    doubts = _suspect_reasons(batch, row, set())
    named = {r.code for r in doubts}
    return [r for r in out if r.code not in named] + doubts


def reason_table(batch: ScoreBatch, lang: str = "zh") -> pd.DataFrame:
    """reason_k_text columns for every row (renders text: use on the rows you output)."""
    cols: dict[str, list[str]] = {}
    for k in range(batch.reasons.shape[1]):
        cols[f"reason_{k + 1}_text"] = []
    for rs in reasons_of_rows(batch):
        for k in range(batch.reasons.shape[1]):
            cols[f"reason_{k + 1}_text"].append(
                "" if k >= len(rs) else (rs[k].text_zh if lang == "zh" else rs[k].text_en))
    return pd.DataFrame(cols, index=batch.index)


def industry_comparison(batch: ScoreBatch,
                        industry: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Each row's score percentile (0..100) within its industry, and each industry's average
    dimension scores (one row per industry, one column per dimension) plus firm count."""
    ind = industry.reindex(batch.index).rename("industry")
    scores = pd.Series(batch.score, index=batch.index)
    pct = scores.groupby(ind).rank(pct=True, method="average") * 100.0
    dims = pd.DataFrame(batch.dimension_scores, index=batch.index, columns=batch.dimensions)
    dims["industry"] = ind.to_numpy()
    avg = dims.groupby("industry").mean()
    avg["firms"] = dims.groupby("industry").size()
    avg["mean_score"] = scores.groupby(ind).mean()
    return pct.rename("industry_percentile"), avg


def dimension_label(code: str, lang: str = "zh") -> str:
    """Display name of a dimension (falls back to the code for generic models)."""
    d = DIMENSIONS.get(code)
    if d is None:
        return code
    return d.name_zh if lang == "zh" else d.name_en
