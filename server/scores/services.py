"""Weight profiles: admins damp or boost indicators; every change is a new, audited version."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import asyncpg
from litestar.exceptions import ClientException, ValidationException

from scoring import Adjustment, WeightProfile, active_profile
from server.scores.schemas import AdjustmentIn, WeightProfileCreate, WeightProfileOut
from server.scores.tables import WeightProfile as WeightProfileRow
from server.users.security import AuthUser

__all__ = ["active_profile_on", "create_or_revise", "list_profiles", "profile_version"]


def profile_version(p: WeightProfile) -> str:
    """The version string stored with every score: ``<name>@v<n>``."""
    return f"{p.name}@v{p.version}"


async def _all() -> list[WeightProfile]:
    rows = await WeightProfileRow.select(WeightProfileRow.rules).output(load_json=True)
    return [WeightProfile.from_dict(r["rules"]) for r in rows]


async def active_profile_on(day: date) -> WeightProfile | None:
    """The profile scoring applies on ``day`` (latest version of those valid then), if any."""
    latest: dict[str, WeightProfile] = {}
    for p in await _all():
        if p.name not in latest or p.version > latest[p.name].version:
            latest[p.name] = p
    return active_profile(latest.values(), day)


async def create_or_revise(user: AuthUser, data: WeightProfileCreate) -> WeightProfileOut:
    if data.valid_to is not None and data.valid_to < data.valid_from:
        raise ValidationException("valid_to: must not be before valid_from")
    try:
        adjustments = [Adjustment(a.target, a.factor) for a in data.adjustments]
    except ValueError as exc:
        raise ValidationException(f"adjustments: {exc}") from exc
    now = datetime.now(UTC)
    existing = [p for p in await _all() if p.name == data.name]
    if existing:
        current = max(existing, key=lambda p: p.version)
        try:  # an omitted valid_to keeps the current version's end date
            profile = current.revise(
                changed_by=user.phone, reason=data.reason, now=now, adjustments=adjustments,
                valid_from=data.valid_from, valid_to=data.valid_to)
        except ValueError:
            raise ValidationException(
                f"valid_to: the profile ends on {current.valid_to}, before valid_from "
                f"{data.valid_from}; send a valid_to for the revision") from None
    else:
        profile = WeightProfile.create(data.name, adjustments, data.reason, data.valid_from,
                                       data.valid_to, created_by=user.phone, now=now)
    try:
        await WeightProfileRow(version=profile_version(profile), name=profile.name, reason=profile.reason,
                               rules=profile.to_dict(), valid_from=profile.valid_from,
                               valid_to=profile.valid_to, created_by=user.id, created_at=now,
                               active=True).save()
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        # Two admins revised the same profile at once: the version number is taken.
        raise ClientException(f"name: {data.name!r} was revised at the same moment; send it again",
                              status_code=409) from exc
    return _out(profile, now)


def _out(p: WeightProfile, created_at: datetime) -> WeightProfileOut:
    d = p.to_dict()
    return WeightProfileOut(
        version=profile_version(p), name=p.name, reason=p.reason,
        adjustments=[AdjustmentIn(a.target, a.factor) for a in p.adjustments],
        valid_from=p.valid_from, valid_to=p.valid_to, created_at=created_at,
        history=list(d.get("history", [])),  # type: ignore[arg-type]
    )


async def list_profiles() -> list[WeightProfileOut]:
    rows = await WeightProfileRow.select(WeightProfileRow.rules, WeightProfileRow.created_at).order_by(
        WeightProfileRow.created_at).output(load_json=True)
    return [_out(WeightProfile.from_dict(r["rules"]), r["created_at"]) for r in rows]
