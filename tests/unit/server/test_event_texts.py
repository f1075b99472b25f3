"""An application's timeline in words, in each reader's language (issue 13: server texts)."""

from __future__ import annotations

import re

import pytest

from server.financing.services import event_texts

APP = {"amount_fen": 100_000_000, "term_months": 12, "rate_bp": 435, "approved_amount_fen": 80_000_000,
       "approved_term_months": 12, "decline_text": None}
CJK = re.compile(r"[\u4e00-\u9fff]")
WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.mark.parametrize(("status", "note", "zh", "en"), [
    ("pending", "applied for 1000000 yuan over 12 months", "申请100万元，期限12个月",
     "Applied for ¥1,000,000 over 12 months"),
    ("approved", "approved 800000 yuan at 4.35% over 12 months", "批准80万元，年利率4.35%，期限12个月",
     "Approved ¥800,000 at 4.35% a year over 12 months"),
    ("disbursed", "", "已放款", "Disbursed"),
    ("repaid", "repaid in full", "已全部结清", "Repaid in full"),
    ("defaulted", "outstanding 280000 yuan", "银行报告违约，未偿本金28万元",
     "Reported in default by the bank, ¥280,000 outstanding"),
])
def test_each_event_reads_in_one_language(status: str, note: str, zh: str, en: str) -> None:
    got_zh, got_en = event_texts(status, note, APP)
    assert (got_zh, got_en) == (zh, en)
    assert not WORD.search(got_zh) and not CJK.search(got_en)


def test_a_banks_own_words_are_quoted_as_written() -> None:
    zh, en = event_texts("defaulted", "outstanding 5000 yuan; 逾期90天", APP)
    assert zh == "银行报告违约，未偿本金5,000元（逾期90天）"
    assert en == "Reported in default by the bank, ¥5,000 outstanding (逾期90天)"
    zh, en = event_texts("declined", "declined: high_leverage: 负债率高", {**APP, "decline_text": "负债率高"})
    assert (zh, en) == ("未获批：负债率高", "Declined: “负债率高”")


def test_an_event_written_now_keeps_its_text_for_each_reader() -> None:
    """Since issue 13 the stored note keeps the text (template and fields), not English words:
    each reader gets it in their language, money as they read it, and a bank's words as written."""
    from server.texts import t
    from server.texts.stored import revive as kept
    from server.texts.stored import shown
    from server.texts.stored import store as keep

    note = keep(t("Applied for {amount:fen} over {months} months", amount=100_000_000, months=12))
    assert kept(note) == "Applied for ¥1,000,000 over 12 months"
    assert shown(note, "zh") == "申请100万元，期限12个月" and shown(note, "en") == "Applied for ¥1,000,000 over 12 months"
    other = {**APP, "amount_fen": 1}  # the kept text, not the application's figures
    assert event_texts("pending", note, other) == ("申请100万元，期限12个月", "Applied for ¥1,000,000 over 12 months")
    said = keep(t("Reported in default by the bank, {outstanding:fen} outstanding ({said})",
                  outstanding=28_000_000, said="逾期90天"))
    assert event_texts("defaulted", said, APP) == ("银行报告违约，未偿本金28万元（逾期90天）",
                                                  "Reported in default by the bank, ¥280,000 outstanding (逾期90天)")
    nested = keep(t("{a}; {b}", a=t("loan repaid"), b=t("Repaid in full")))
    assert shown(nested, "zh") == "贷款已结清；已全部结清"
    assert shown("outstanding 5000 yuan", "zh") == "outstanding 5000 yuan"  # an older row's words, as written
