"""The catalogues: same keys and placeholders in both languages, every key the code uses, and a
font that has every character they contain."""

from __future__ import annotations

import re
import string
from pathlib import Path

from fontTools.ttLib import TTFont

from mobile_app.app import ASSETS_DIR, FONT_FILE
from mobile_app.i18n import CATALOGUES, Translator

APP = Path(__file__).resolve().parents[3] / "mobile_app"
USED = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z_.0-9A-Z]+)["']""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = CATALOGUES["zh"], CATALOGUES["en"]
    assert set(zh) == set(en)
    for key in zh:
        assert _fields(zh[key]) == _fields(en[key]), key


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    used = {m for path in APP.rglob("*.py") for m in USED.findall(path.read_text("utf-8"))}
    assert used, "the pattern should find the keys"
    missing = sorted(k for k in used if k not in CATALOGUES["zh"])
    assert not missing


def test_chinese_by_default_and_formats() -> None:
    t = Translator()
    assert t("nav.credit") == "信用" and Translator("xx").lang == "zh"
    assert t.pick("中文", "English") == "中文" and Translator("en").pick("中文", "English") == "English"
    assert Translator("en").pick("中文", "") == "中文"
    assert t.pd_words(0.0043) == "一年内违约可能：约每千家同类企业中4.3家（很低）"
    assert Translator("en").pd_words(0.0004).endswith("under 1 in 1,000 (very low)")
    assert "(high)" in Translator("en").pd_words(0.3)
    assert t.date("2026-11-22T20:30:00Z") == "2026-11-23"  # shown in Asia/Shanghai
    assert t.money(1000000) == "1,000,000" and t.status("approved") == "已批准"


def test_the_font_has_every_character_of_the_catalogues() -> None:
    path = ASSETS_DIR / FONT_FILE.lstrip("/")
    assert path.stat().st_size < 4_500_000
    cmap = TTFont(str(path)).getBestCmap()
    chars = {c for cat in CATALOGUES.values() for text in cat.values() for c in text if not c.isspace()}
    missing = sorted(c for c in chars if ord(c) not in cmap)
    assert not missing
    assert all(ord(c) in cmap for c in "鑫琮淼")  # rarer characters firm names use


def test_pd_words_follow_the_grade_band_and_coverage_names_the_missing_feeds() -> None:
    from mobile_app.api.models import DataConfidence, Feed, GradeBand

    t, en = Translator(), Translator("en")
    b = GradeBand(grade="B", pd_from=0.001, pd_to=0.005, score_from=641, score_to=733)
    assert t.pd_words(0.0043, b) == "一年内违约可能：约每千家同类企业中4.3家（较低；B级区间：千分之1至5）"
    assert en.pd_words(0.0043, b).endswith("(low; grade B band: 1 to 5 in 1,000)")
    a = GradeBand(grade="A", pd_from=0.0, pd_to=0.001, score_from=734, score_to=None)
    assert t.pd_words(0.0004, a) == "一年内违约可能：不到千分之一（很低；A级为风险最低的区间）"
    assert t.pd_range(a) == "不到千分之1"
    d = GradeBand(grade="D", pd_from=0.03, pd_to=None, score_from=0, score_to=535)
    assert "D级区间：千分之30以上" in t.pd_words(0.031, d) and "很高" in t.pd_words(0.031, d)
    # the word is the grade's, whatever the fallback table would say of the PD
    assert "很低" in t.pd_words(0.0043) and "较低" in t.pd_words(0.0043, b)
    dc = DataConfidence(share=0.6, level="medium", sources=5, reporting=3, missing=[
        Feed("social_insurance", "社保医保参保", "Social and medical insurance", "人社部门",
             "the human resources and social security bureau"),
        Feed("utility", "水电气用量", "Utility use", "水电气公司", "the utility companies")])
    line, missing = t.data_confidence(dc)
    assert line == "数据完整度：中（5类主要数据中3类已报送）"
    assert missing.startswith("缺少：人社部门的社保医保参保、水电气公司的水电气用量。")
    line, missing = en.data_confidence(dc)
    assert line == "Data coverage: medium (3 of 5 main feeds reporting)" and "Utility use from the utility companies" in missing
    assert t.data_confidence(DataConfidence(share=1.0, level="high", sources=5, reporting=5))[1] is None
