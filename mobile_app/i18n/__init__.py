"""Every user-facing string, in 简体中文 (default) and English, plus number and date formats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from mobile_app.i18n import en, zh_CN

__all__ = ["CATALOGUES", "DEFAULT_LANG", "LANGS", "Translator"]

DEFAULT_LANG = "zh"
LANGS = ("zh", "en")
CATALOGUES: dict[str, dict[str, str]] = {"zh": zh_CN.MESSAGES, "en": en.MESSAGES}
SHANGHAI = timezone(timedelta(hours=8))

# (upper bound of the one-year default probability, catalogue key of its band)
PD_BANDS = ((0.005, "credit.pd.very_low"), (0.02, "credit.pd.low"), (0.05, "credit.pd.moderate"),
            (0.15, "credit.pd.elevated"), (1.01, "credit.pd.high"))


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

    def pd_words(self, pd: float) -> str:
        """A default probability as people say it: about N in 1,000, and how that compares."""
        band = next(key for bound, key in PD_BANDS if pd < bound)
        per_mille = pd * 1000
        if per_mille < 1:
            return self("credit.pd_words_tiny", band=self(band))
        shown = f"{per_mille:.0f}" if per_mille >= 10 else f"{per_mille:.1f}".rstrip("0").rstrip(".")
        return self("credit.pd_words", per_mille=shown, band=self(band))

    def status(self, status: str) -> str:
        key = f"status.{status}"
        return self(key) if key in CATALOGUES[self.lang] else status
