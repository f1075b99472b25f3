"""Weight profiles and override rule sets: admins damp or boost indicators, or change the hard
override rules; every change is a new, audited version."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import asyncpg
from litestar.exceptions import ClientException, ValidationException

from scoring import INDICATORS, Adjustment, WeightProfile, active_profile
from scoring.errors import InvalidValue
from scoring.overrides import OverrideRule, OverrideRuleSet
from server import db
from server.audit.services import change, changes, record
from server.scores.schemas import (
    AdjustmentIn,
    OverrideRuleIn,
    OverrideRuleSetOut,
    OverrideRuleSetRevise,
    WeightProfileCreate,
    WeightProfileOut,
)
from server.tables.scores import OverrideRuleSet as OverrideRuleSetRow
from server.tables.scores import WeightProfile as WeightProfileRow
from server.texts import Text, Written, t
from server.users.security import AuthUser

__all__ = ["active_override_rules", "active_profile_on", "all_profiles", "build_profile", "create_or_revise",
           "latest_profiles", "list_override_rules", "list_profiles", "profile_version", "revise_override_rules",
           "seed_override_rules"]


def _scoring_problem(exc: ValueError) -> Text | str:
    """What the scoring package refused, for any reader: its template and fields, which the
    catalogue words in Chinese (a test keeps every template of ``scoring`` in the catalogue)."""
    if isinstance(exc, InvalidValue):
        return Text(exc.template, exc.fields)
    # Any other ValueError from the library: its own words for English readers.
    return Written("取值无效", str(exc))


def profile_version(p: WeightProfile) -> str:
    """The version string stored with every score: ``<name>@v<n>``."""
    return f"{p.name}@v{p.version}"


async def all_profiles() -> list[WeightProfile]:
    rows = await WeightProfileRow.select(WeightProfileRow.rules).output(load_json=True)
    return [WeightProfile.from_dict(r["rules"]) for r in rows]


async def latest_profiles() -> dict[str, WeightProfile]:
    """The latest version of every weight profile, by name."""
    latest: dict[str, WeightProfile] = {}
    for p in await all_profiles():
        if p.name not in latest or p.version > latest[p.name].version:
            latest[p.name] = p
    return latest


async def active_profile_on(day: date) -> WeightProfile | None:
    """The profile scoring applies on ``day`` (latest version of those valid then), if any."""
    return active_profile((await latest_profiles()).values(), day)


async def build_profile(user: AuthUser, data: WeightProfileCreate, now: datetime) -> WeightProfile:
    """The profile ``data`` describes, as the next version of its name (not stored): 400s name
    the field."""
    if data.valid_to is not None and data.valid_to < data.valid_from:
        raise ValidationException(t("valid_to: must not be before valid_from"))
    try:
        adjustments = [Adjustment(a.target, a.factor) for a in data.adjustments]
    except ValueError as exc:
        raise ValidationException(t("adjustments: {problem}", problem=_scoring_problem(exc))) from exc
    kinds = {k for ind in INDICATORS.values() for k in ind.kinds}
    for i, a in enumerate(adjustments):  # a target nothing reads would silently do nothing
        kind, _, name = a.target.partition(":")
        if (not name and a.target not in INDICATORS) or (kind == "kind" and name not in kinds):
            raise ValidationException(t(
                "adjustments[{i}].target: {target!r} is not an indicator code, "
                "dimension:<dimension> or kind:<record kind an indicator reads>", i=i, target=a.target))
    existing = [p for p in await all_profiles() if p.name == data.name]
    if existing:
        current = max(existing, key=lambda p: p.version)
        try:  # an omitted valid_to keeps the current version's end date
            profile = current.revise(
                changed_by=user.phone, reason=data.reason, now=now, adjustments=adjustments,
                valid_from=data.valid_from, valid_to=data.valid_to)
        except ValueError:
            raise ValidationException(t(
                "valid_to: the profile ends on {valid_to:date}, before valid_from {valid_from:date}; "
                "send a valid_to for the revision", valid_to=current.valid_to, valid_from=data.valid_from)) from None
    else:
        profile = WeightProfile.create(data.name, adjustments, data.reason, data.valid_from,
                                       data.valid_to, created_by=user.phone, now=now)
    return profile


def _profile_terms(p: WeightProfile) -> dict[str, object]:
    return {"version": profile_version(p), "valid_from": p.valid_from, "valid_to": p.valid_to,
            "adjustments": [[a.target, a.factor] for a in p.adjustments]}


async def create_or_revise(user: AuthUser, data: WeightProfileCreate) -> WeightProfileOut:
    """A new weight profile, or the next version of one; audited as ``weights.save`` (what
    changed from the version before) in the same transaction."""
    now = datetime.now(UTC)
    profile = await build_profile(user, data, now)
    previous = (await latest_profiles()).get(profile.name) if profile.version > 1 else None
    terms = _profile_terms(profile)
    detail = ({**changes(_profile_terms(previous), terms), "reason": data.reason} if previous is not None
              else {"name": profile.name, **terms, "reason": data.reason})
    try:
        async with db.write_transaction():
            await WeightProfileRow(version=profile_version(profile), name=profile.name, reason=profile.reason,
                                   rules=profile.to_dict(), valid_from=profile.valid_from,
                                   valid_to=profile.valid_to, created_by=user.id, created_at=now,
                                   active=True).save()
            await record(user, "weights.save", profile.name, detail)
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        # Two admins revised the same profile at once: the version number is taken.
        raise ClientException(t("name: {name!r} was revised at the same moment; send it again", name=data.name),
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


# -- override rule sets -------------------------------------------------------------------------

_UNIQUE_VIOLATIONS = (sqlite3.IntegrityError, asyncpg.UniqueViolationError)


async def _override_sets() -> list[tuple[OverrideRuleSet, datetime]]:
    rows = await OverrideRuleSetRow.select(OverrideRuleSetRow.rules, OverrideRuleSetRow.created_at
                                           ).output(load_json=True)
    sets = [(OverrideRuleSet.from_dict(r["rules"]), r["created_at"]) for r in rows]
    return sorted(sets, key=lambda s: s[0].version)


async def _store(rule_set: OverrideRuleSet, user_id: int | None, now: datetime) -> None:
    await OverrideRuleSetRow(version=rule_set.label, name=rule_set.name, reason=rule_set.reason,
                             rules=rule_set.to_dict(), created_by=user_id, created_at=now).save()


async def seed_override_rules() -> None:
    """Store version 1 (the default rules) when no version is stored yet; safe to run twice."""
    if await OverrideRuleSetRow.exists():
        return
    now = datetime.now(UTC)
    try:
        await _store(OverrideRuleSet.default(now=now), None, now)
    except _UNIQUE_VIOLATIONS:
        pass  # another process seeded it at the same moment


async def active_override_rules() -> OverrideRuleSet:
    """The rule set scoring applies: the newest version (the default version 1 until one is
    stored, so a platform that never seeded still overrides defaulted firms)."""
    sets = await _override_sets()
    return sets[-1][0] if sets else OverrideRuleSet.default()


async def revise_override_rules(user: AuthUser, data: OverrideRuleSetRevise) -> OverrideRuleSetOut:
    """A new version of the override rules with the given rules replaced; audited."""
    rules = []
    for i, r in enumerate(data.rules):
        try:
            rules.append(OverrideRule(r.code, r.enabled, r.min_days, tuple(r.statuses or ())))
        except ValueError as exc:
            raise ValidationException(t("rules[{i}].{problem}", i=i, problem=_scoring_problem(exc))) from exc
    if len({r.code for r in rules}) != len(rules):
        raise ValidationException(t("rules: each rule code at most once"))
    await seed_override_rules()  # the audit trail starts at version 1
    current = (await _override_sets())[-1][0]
    now = datetime.now(UTC)
    revised = current.revise(changed_by=user.phone, reason=data.reason, rules=rules, now=now)

    def by_code(s: OverrideRuleSet) -> dict[str, object]:
        return {f"rules.{r.code}": {"enabled": r.enabled, "min_days": r.min_days, "statuses": list(r.statuses)}
                for r in s.rules}
    detail = {"version": change(current.label, revised.label), **changes(by_code(current), by_code(revised)),
              "reason": data.reason}
    try:
        async with db.write_transaction():
            await _store(revised, user.id, now)
            await record(user, "overrides.revise", revised.name, detail)
    except _UNIQUE_VIOLATIONS as exc:
        raise ClientException(t("rules: the rule set was revised at the same moment; send it again"),
                              status_code=409) from exc
    return _override_out(revised, now)


def _override_out(s: OverrideRuleSet, created_at: datetime) -> OverrideRuleSetOut:
    d = s.to_dict()
    return OverrideRuleSetOut(
        version=s.label, name=s.name, reason=s.reason, created_at=created_at,
        rules=[OverrideRuleIn(r.code, r.enabled, r.min_days, list(r.statuses) or None)
               for r in s.rules],
        history=list(d.get("history", [])),  # type: ignore[arg-type]
    )


async def list_override_rules() -> list[OverrideRuleSetOut]:
    """Every stored version of the override rules, oldest first."""
    return [_override_out(s, at) for s, at in await _override_sets()]
