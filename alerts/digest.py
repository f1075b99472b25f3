"""Quiet hours and daily digests: pure helpers on Asia/Shanghai wall-clock time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DIGEST_HOUR", "SHANGHAI", "digest_content", "local_date", "next_digest_at", "quiet_until"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
DIGEST_HOUR = 8  # the daily digest goes out at 08:00 Asia/Shanghai
_RANK = {"red": 0, "yellow": 1, "blue": 2}
_ZH = {"red": "红", "yellow": "黄", "blue": "蓝"}


def quiet_until(now: datetime, start: int | None, end: int | None) -> datetime | None:
    """If ``now`` falls in the quiet hours ``[start, end)`` (hours, Shanghai; may wrap midnight),
    the UTC time they end; otherwise None."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(SHANGHAI)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), SHANGHAI).astimezone(UTC)


def next_digest_at(now: datetime, hour: int = DIGEST_HOUR) -> datetime:
    """The next digest time (``hour``:00 Shanghai) strictly after ``now``, in UTC."""
    local = now.astimezone(SHANGHAI)
    at = datetime.combine(local.date(), time(hour), SHANGHAI)
    if at <= local:
        at = datetime.combine(local.date() + timedelta(days=1), time(hour), SHANGHAI)
    return at.astimezone(UTC)


def local_date(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def digest_content(day: date, items: Sequence[dict[str, Any]]) -> tuple[str, str, str]:
    """(level, title_zh, title_en) of a digest of ``items`` (each with a ``level``)."""
    counts = Counter(i["level"] for i in items)
    levels = sorted(counts, key=lambda lv: _RANK.get(lv, 9))
    worst = levels[0] if levels else "blue"
    zh = "，".join(f"{_ZH.get(lv, lv)}{counts[lv]}" for lv in levels)
    en = ", ".join(f"{counts[lv]} {lv}" for lv in levels)
    n = len(items)
    title_zh = f"{day.isoformat()} 每日预警摘要：{n}条（{zh}）"
    title_en = f"Daily digest {day.isoformat()}: {n} alert{'s' if n != 1 else ''} ({en})"
    return worst, title_zh, title_en
