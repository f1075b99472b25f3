"""Every user-facing string, in 简体中文 (default) and English, plus number and date formats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from mobile_app.api.models import DataConfidence, GradeBand
from mobile_app.i18n import en, zh_CN

__all__ = ["CATALOGUES", "DEFAULT_LANG", "LANGS", "Translator"]

DEFAULT_LANG = "zh"
LANGS = ("zh", "en")
CATALOGUES: dict[str, dict[str, str]] = {"zh": zh_CN.MESSAGES, "en": en.MESSAGES}
SHANGHAI = timezone(timedelta(hours=8))

# (upper bound of the one-year default probability, catalogue key of its band)
PD_BANDS = ((0.005, "credit.pd.very_low"), (0.02, "credit.pd.low"), (0.05, "credit.pd.moderate"),
            (0.15, "credit.pd.elevated"), (1.01, "credit.pd.high"))
# The word for each grade's PD band (the bands themselves come with the evaluation).
GRADE_WORDS = {"A": "credit.pd.very_low", "B": "credit.pd.low", "C": "credit.pd.moderate",
               "D": "credit.pd.high"}


def _per_mille(pd: float) -> str:
    v = pd * 1000
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Translator:
    """Looks strings up in one language's catalogue; a missing key shows as the key itself."""

    lang: str = DEFAULT_LANG

    def __post_init__(self) -> None:
        if self.lang not in CATALOGUES:
            object.__setattr__(self, "lang", DEFAULT_LANG)

    def __call__(self, key: str, **values: object) -> str:
        text = CATALOGUES[self.lang].get(key) or CATALOGUES[DEFAULT_LANG].get(key) or key
        return text.format(**values) if values else text

    def __contains__(self, key: str) -> bool:
        """Whether the catalogue has ``key`` (for texts keyed by a server code)."""
        return key in CATALOGUES[self.lang] or key in CATALOGUES[DEFAULT_LANG]

    @property
    def zh(self) -> bool:
        return self.lang == "zh"

    def pick(self, text_zh: str | None, text_en: str | None) -> str:
        """The API's bilingual texts: the one for this language, else the other."""
        first, second = (text_zh, text_en) if self.zh else (text_en, text_zh)
        return first or second or ""

    def money(self, yuan: int | float | None) -> str:
        return "—" if yuan is None else f"{int(round(yuan)):,}"

    def date(self, iso: str | None) -> str:
        """An ISO date or UTC timestamp shown as a day (timestamps in Asia/Shanghai)."""
        if not iso:
            return "—"
        if len(iso) <= 10:
            return iso
        try:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            return iso[:10]
        if moment.tzinfo is not None:
            moment = moment.astimezone(SHANGHAI)
        return moment.strftime("%Y-%m-%d")

    def datetime(self, iso: str | None) -> str:
        if not iso:
            return "—"
        try:
            moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        except ValueError:
            return iso
        if moment.tzinfo is not None:
            moment = moment.astimezone(SHANGHAI)
        return moment.strftime("%Y-%m-%d %H:%M")

    def pd_words(self, pd: float, band: GradeBand | None = None) -> str:
        """A default probability as people say it: about N in 1,000, and how that compares.

        With the firm's grade band (from the evaluation, i.e. the model's own table) the word
        is the grade's and the band is named, so the words can never contradict the grade;
        without one (older scores) the word comes from ``PD_BANDS``."""
        if band is not None and band.grade in GRADE_WORDS:
            named = (self("credit.pd_band_best", grade=band.grade) if band.pd_from <= 0
                     else self("credit.pd_band", grade=band.grade, range=self.pd_range(band)))
            word = self("credit.pd_word_band", word=self(GRADE_WORDS[band.grade]), band=named)
        else:
            word = self(next(key for bound, key in PD_BANDS if pd < bound))
        per_mille = pd * 1000
        if per_mille < 1:
            return self("credit.pd_words_tiny", band=word)
        return self("credit.pd_words", per_mille=_per_mille(pd), band=word)

    def pd_range(self, band: GradeBand) -> str:
        """A grade's PD band in per-mille words: "千分之1至5", "不到千分之1", "千分之30以上"."""
        if band.pd_to is None:
            return self("credit.pd_range_above", lo=_per_mille(band.pd_from))
        if band.pd_from <= 0:
            return self("credit.pd_range_below", hi=_per_mille(band.pd_to))
        return self("credit.pd_range", lo=_per_mille(band.pd_from), hi=_per_mille(band.pd_to))

    def data_confidence(self, dc: DataConfidence) -> tuple[str, str | None]:
        """The coverage line, and the missing feeds with their departments (None: none)."""
        line = self("credit.data_confidence", level=self(f"credit.confidence.{dc.coverage_level or dc.level}"),
                    n=dc.reporting, of=dc.sources)
        if not dc.missing:
            return line, None
        sep = "、" if self.zh else "; "
        feeds = sep.join(self("credit.data_feed", name=self.pick(f.name_zh, f.name_en),
                              department=self.pick(f.department_zh, f.department_en)) for f in dc.missing)
        return line, self("credit.data_missing", feeds=feeds)

    def data_trust(self, dc: DataConfidence) -> tuple[str | None, list[str]]:
        """How far the data can be believed: the level with the departments it rests on, and
        each cross-source finding (None and none before the server stated it)."""
        if not dc.summary_zh and not dc.findings:
            return None, []
        line = self("credit.data_trust", level=self(f"credit.confidence.{dc.level}"),
                    summary=self.pick(dc.summary_zh, dc.summary_en))
        return line, [self.pick(f.text_zh, f.text_en) for f in dc.findings]

    def status(self, status: str) -> str:
        key = f"status.{status}"
        return self(key) if key in CATALOGUES[self.lang] else status
