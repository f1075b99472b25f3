"""The admin's 管理 tab: 账户 accounts, 银行与产品 banks and their loan products, 审计日志 the audit
log of every admin change and every view of a firm's evaluation."""

from __future__ import annotations

from typing import Any

import flet as ft

from mobile_app.api.models import AuditEntry, BankAdmin, ProductAdmin
from mobile_app.i18n import Translator
from mobile_app.state.admin import AccountsState
from mobile_app.state.manage import GRADES, AuditState, BanksState, FeedHealthState, ManageState
from mobile_app.views.admin import accounts_parts
from mobile_app.views.common import (
    MUTED,
    PRIMARY,
    Run,
    card,
    empty,
    error_banner,
    filter_chip,
    icon_button,
    loading,
    pill,
    screen,
    section,
    state_gate,
)
from mobile_app.views.office import health_card

__all__ = ["build_manage"]

OK_GREEN = "#1B9E5A"
ERROR_RED = "#B3261E"


def build_manage(manage: ManageState, accounts: AccountsState, banks: BanksState, audit: AuditState,
                 t: Translator, run: Run, health: FeedHealthState | None = None) -> ft.Control:
    parts_of: dict[str, Any] = {"accounts": accounts, "banks": banks, "audit": audit}
    if health is not None:
        parts_of["data"] = health

    def pick(section: str | None) -> None:
        """Show a part, fresh: the audit log must hold the change just made on another part."""
        if section in parts_of:
            manage.pick(section)
            run(parts_of[section].load())

    switch = ft.SegmentedButton(
        key="manage.section", selected=[manage.section], show_selected_icon=False,
        segments=[ft.Segment(value=s, label=ft.Text(t(f"manage.section.{s}")))
                  for s in parts_of],
        on_change=lambda e: pick(next(iter(e.control.selected), None)),
    )
    head = ft.Row([switch], alignment=ft.MainAxisAlignment.CENTER, wrap=True)
    if manage.section == "banks":
        parts = _bank_parts(banks, t, run)
        refresh = banks.load
    elif manage.section == "audit":
        parts = _audit_parts(audit, t, run)
        refresh = audit.load
    elif manage.section == "data" and health is not None:
        parts = _health_parts(health, t, run)
        refresh = health.load
    else:
        parts = accounts_parts(accounts, t, run)
        refresh = accounts.load
    return screen(head, *parts, key=f"screen.manage.{manage.section}", on_refresh=lambda: run(refresh()))


# -- the departments' feed health ------------------------------------------------------------------

def _health_parts(state: FeedHealthState, t: Translator, run: Run) -> list[ft.Control | None]:
    """Every department's coverage, timeliness, rejected rows and disagreement (issue 15)."""
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return [gate]
    parts: list[ft.Control | None] = [section(t("manage.health", n=len(state.departments)))]
    if not state.departments:
        parts.append(card(empty(t("manage.no_health"), key="manage.health.empty")))
    parts += [health_card(h, t, key=f"manage.health.{h.department}", named=True) for h in state.departments]
    return parts


# -- banks and products -------------------------------------------------------------------------

def _field(state: BanksState, name: str, label: str, *, key: str, number: bool = False,
           hint: str | None = None, width: int | None = None, expand: bool = False) -> ft.TextField:
    d = state.draft
    return ft.TextField(key=key, label=label, value=d.get(name, ""), hint_text=hint, border_radius=10,
                        keyboard_type=ft.KeyboardType.NUMBER if number else None, width=width, expand=expand,
                        on_change=lambda e: d.__setitem__(name, e.control.value or ""))


def _flag(state: BanksState, name: str, label: str, *, key: str, default: bool = False) -> ft.Checkbox:
    return ft.Checkbox(key=key, label=label, value=state.flags.get(name, default),
                       on_change=lambda e: state.set_flag(name, bool(e.control.value)))


def _pair(*fields: ft.Control) -> ft.Row:
    return ft.Row(list(fields), spacing=8)


def _bank_form(state: BanksState, t: Translator, run: Run) -> ft.Control:
    new = state.form == "bank"
    items: list[ft.Control] = [section(t("manage.new_bank") if new else t("manage.edit_bank", code=state.bank_code))]
    if state.invalid:
        items.append(ft.Text(t(state.invalid), color=ERROR_RED, size=12, key="bank.invalid"))
    if new:
        items.append(_field(state, "code", t("manage.bank_code"), key="bank.code", hint="ZJRCB"))
    items.append(_field(state, "name", t("manage.bank_name"), key="bank.name"))
    if not new:
        items.append(_flag(state, "suspended", t("manage.suspended_label"), key="bank.suspended"))
        items.append(_field(state, "reason", t("manage.reason"), key="bank.reason", hint=t("manage.reason_hint")))
    items.append(_buttons(state, t, run, "bank"))
    return card(*items, key="bank.form", spacing=10)


def _buttons(state: BanksState, t: Translator, run: Run, prefix: str) -> ft.Row:
    return ft.Row([
        ft.FilledButton(t("manage.save"), key=f"{prefix}.save", icon=ft.Icons.CHECK, expand=True,
                        disabled=state.busy, on_click=lambda _: run(state.save())),
        ft.OutlinedButton(t("common.cancel"), key=f"{prefix}.cancel", expand=True, on_click=lambda _: state.cancel()),
    ], spacing=8)


def _product_form(state: BanksState, t: Translator, run: Run) -> ft.Control:
    new = state.form == "product"
    bank = next((b.name for b in state.banks if b.code == state.bank_code), state.bank_code or "")
    items: list[ft.Control] = [section(t("manage.new_product", bank=bank) if new else t("manage.edit_product"))]
    if state.invalid:
        items.append(ft.Text(t(state.invalid), color=ERROR_RED, size=12, key="product.invalid"))
    items += [
        _field(state, "name", t("manage.product_name"), key="product.name"),
        _pair(_field(state, "min_amount_yuan", t("manage.min_amount"), key="product.min_amount", number=True,
                     expand=True),
              _field(state, "max_amount_yuan", t("manage.max_amount"), key="product.max_amount", number=True,
                     expand=True)),
        _pair(_field(state, "min_term_months", t("manage.min_term"), key="product.min_term", number=True,
                     expand=True),
              _field(state, "max_term_months", t("manage.max_term"), key="product.max_term", number=True,
                     expand=True)),
        _pair(_field(state, "min_rate", t("manage.min_rate"), key="product.min_rate", number=True, expand=True),
              _field(state, "max_rate", t("manage.max_rate"), key="product.max_rate", number=True, expand=True)),
        ft.Text(t("manage.grades"), size=13, color=MUTED),
        ft.Row([ft.Checkbox(key=f"product.grade.{g}", label=t("manage.grade", grade=g), value=g in state.grades,
                            on_change=lambda e, g=g: state.toggle_grade(g, bool(e.control.value)))
                for g in GRADES], wrap=True, spacing=4),
        _field(state, "industries", t("manage.industries"), key="product.industries", hint=t("manage.industries_hint")),
        _flag(state, "collateral_free", t("manage.collateral_free"), key="product.collateral_free"),
        _flag(state, "fund_covered", t("manage.fund_covered"), key="product.fund_covered"),
    ]
    if not new:
        items.append(_flag(state, "active", t("manage.active_label"), key="product.active", default=True))
        items.append(_field(state, "reason", t("manage.reason"), key="product.reason", hint=t("manage.reason_hint")))
    items.append(_buttons(state, t, run, "product"))
    return card(*items, key="product.form", spacing=10)


def _product_line(t: Translator, p: ProductAdmin, key: str, state: BanksState) -> ft.Control:
    terms = t("manage.product_terms", low=t.money(p.min_amount_yuan), high=t.money(p.max_amount_yuan),
              term_low=p.min_term_months, term_high=p.max_term_months,
              rate_low=f"{p.min_rate_bp / 100:.2f}", rate_high=f"{p.max_rate_bp / 100:.2f}")
    tags = [pill(t("manage.grades_short", grades="".join(p.eligible_grades)), PRIMARY)]
    if p.fund_covered:
        tags.append(pill(t("manage.fund_covered_short"), OK_GREEN))
    if p.collateral_free:
        tags.append(pill(t("manage.collateral_free_short"), "#6D4C9F"))
    if not p.active:
        tags.append(pill(t("manage.inactive"), MUTED, filled=True))
    return ft.Column([
        ft.Row([ft.Text(p.name, weight=ft.FontWeight.W_500, expand=True, max_lines=2,
                        color=None if p.active else MUTED),
                icon_button(ft.Icons.EDIT_OUTLINED, t("manage.edit_product_named", name=p.name), key=f"{key}.edit",
                            on_click=lambda _: state.edit_product(p.id))]),
        ft.Text(terms, size=12, color=MUTED),
        ft.Row(tags, spacing=6, wrap=True),
        *([ft.Text(t("manage.industries_value", letters="、".join(p.industries) if t.zh else ", ".join(p.industries)),
                   size=12, color=MUTED)] if p.industries else []),
    ], spacing=4, key=key)


def _bank_card(t: Translator, b: BankAdmin, i: int, state: BanksState) -> ft.Control:
    head = ft.Row([
        ft.Column([ft.Text(b.name, weight=ft.FontWeight.W_600, max_lines=2),
                   ft.Text(t("manage.bank_line", code=b.code, managers=b.managers, products=len(b.products)),
                           size=12, color=MUTED)], spacing=2, expand=True, tight=True),
        *([pill(t("admin.fund.suspended"), "#D93025", filled=True)] if b.suspended else []),
        icon_button(ft.Icons.EDIT_OUTLINED, t("manage.edit_bank_named", name=b.name), key=f"banks.item.{i}.edit",
                    on_click=lambda _: state.edit_bank(b.code)),
    ])
    rows: list[ft.Control] = [head]
    if not b.products:
        rows.append(ft.Text(t("manage.no_products"), size=12, color=MUTED))
    for j, p in enumerate(b.products):
        rows.append(ft.Divider(height=1, color="#EEF1F5"))
        rows.append(_product_line(t, p, f"banks.item.{i}.product.{j}", state))
    rows.append(ft.TextButton(t("manage.add_product"), key=f"banks.item.{i}.add_product", icon=ft.Icons.ADD,
                              on_click=lambda _: state.new_product(b.code)))
    return card(*rows, key=f"banks.item.{i}", spacing=8)


def _bank_parts(state: BanksState, t: Translator, run: Run) -> list[ft.Control | None]:
    if state.form in ("bank", "bank_edit"):
        return [error_banner(t, state), _bank_form(state, t, run)]
    if state.form in ("product", "product_edit"):
        return [error_banner(t, state), _product_form(state, t, run)]
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.saved is not None:
        key, name, code = state.saved
        notice: list[ft.Control] = [ft.Text(t(key, name=name), color=OK_GREEN, key="banks.saved")]
        if code is not None:  # a bank just added: its first product is the next step
            notice.append(ft.TextButton(t("manage.add_product_for", name=name), key="banks.saved.add_product",
                                        icon=ft.Icons.ADD, on_click=lambda _: state.new_product(code)))
        parts.append(card(*notice, key="banks.notice"))
    parts.append(card(section(t("manage.banks", n=len(state.banks)), trailing=ft.Row([
        icon_button(ft.Icons.REFRESH, t("common.refresh"), key="banks.refresh", on_click=lambda _: run(state.load())),
        ft.TextButton(t("manage.new_bank"), key="banks.new", icon=ft.Icons.ADD, on_click=lambda _: state.new_bank()),
    ], tight=True, spacing=0)), key="banks.head"))
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None and not state.banks:
        parts.append(gate)
        return parts
    if not state.banks:
        parts.append(card(empty(t("manage.no_banks"), key="banks.empty", hint=t("manage.no_banks_hint"),
                                action=(t("manage.new_bank"), state.new_bank))))
    parts += [_bank_card(t, b, i, state) for i, b in enumerate(state.banks)]
    return parts


# -- the audit log ------------------------------------------------------------------------------

def _audit_detail(t: Translator, e: AuditEntry) -> str:
    """What changed, as "field: before → after" (or the values given), and the reason."""
    if e.kind == "view":
        bank = e.detail.get("bank")
        return t("manage.audit.by_bank", bank=bank) if bank else ""
    parts: list[str] = []
    for name, value in e.detail.items():
        if name == "reason":
            continue
        label = next((t(k) for k in (f"manage.field.{e.action}.{name}", f"manage.field.{name}") if k in t), name)
        if isinstance(value, dict) and set(value) == {"before", "after"}:  # a changed field
            parts.append(f"{label}: {_value(t, name, value['before'])} → {_value(t, name, value['after'])}")
        else:
            parts.append(f"{label}: {_value(t, name, value)}")
    text = "；".join(parts) if t.zh else "; ".join(parts)
    reason = e.detail.get("reason")
    if reason:
        text = (text + ("。" if t.zh else ". ") if text else "") + t("manage.audit.reason", reason=reason)
    return text


def _value(t: Translator, name: str, v: object) -> str:
    """A value as people read it: money in yuan, thousands grouped, yes/no, percentages."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return t("common.yes") if v else t("common.no")
    if isinstance(v, int) and name.endswith("_yuan"):
        return t("common.yuan", amount=t.money(v))
    if isinstance(v, int) and name.endswith("_pct"):
        return f"{v}%"
    if isinstance(v, int) and abs(v) >= 10_000:
        return t.money(v)
    if isinstance(v, list):
        return ",".join(_value(t, name, x) for x in v) or "—"
    if isinstance(v, dict):
        return " ".join(f"{k} {_value(t, name, x)}" for k, x in v.items())
    text = str(v)
    return text if len(text) <= 60 else text[:57] + "…"


def _audit_row(t: Translator, e: AuditEntry, i: int) -> ft.Control:
    action = t(f"manage.action.{e.action}") if f"manage.action.{e.action}" in t else e.action
    who = e.actor_name or (f"#{e.actor_id}" if e.actor_id is not None else t("manage.audit.system"))
    role = t(f"role.{e.actor_role}") if e.actor_role and f"role.{e.actor_role}" in t else e.actor_role
    detail = _audit_detail(t, e)
    target = e.target or "—"
    if e.action.startswith("product.") and e.target.isdigit():
        named = e.detail.get("name")
        named = named.get("after") if isinstance(named, dict) else named
        target = t("manage.target.product", id=e.target, name=named or "").strip()
    color = "#0B7285" if e.kind == "view" else PRIMARY
    return card(
        ft.Row([pill(t(f"manage.kind.{e.kind}") if f"manage.kind.{e.kind}" in t else e.kind, color),
                ft.Text(action, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                ft.Text(t.datetime(e.at), size=12, color=MUTED)], spacing=8),
        ft.Text(t("manage.audit.who", who=who, role=role, target=target), size=13),
        *([ft.Text(detail, size=12, color=MUTED, max_lines=4, overflow=ft.TextOverflow.ELLIPSIS)] if detail else []),
        key=f"audit.item.{i}", spacing=4, padding=12)


def _audit_parts(state: AuditState, t: Translator, run: Run) -> list[ft.Control | None]:
    firm = ft.TextField(key="audit.firm", label=t("manage.audit.firm"), value=state.firm, expand=True,
                        border_radius=10, dense=True, on_submit=lambda e: run(state.search(e.control.value or "")),
                        on_change=lambda e: setattr(state, "firm", e.control.value or ""))
    chips = ft.Row([
        filter_chip(t(label), selected=state.kind == kind, key=f"audit.filter.{kind or 'all'}",
                    on_select=lambda _, kind=kind: run(state.filter(kind)))
        for kind, label in ((None, "common.all"), ("change", "manage.kind.change"), ("view", "manage.kind.view"))
    ], spacing=6, wrap=True)
    head = card(
        section(t("manage.audit.title", n=state.total), trailing=icon_button(
            ft.Icons.REFRESH, t("common.refresh"), key="audit.refresh", on_click=lambda _: run(state.load()))),
        ft.Text(t("manage.audit.hint"), size=12, color=MUTED),
        chips,
        ft.Row([firm, icon_button(ft.Icons.SEARCH, t("common.search"), key="audit.search",
                                  on_click=lambda _: run(state.search(state.firm)))]),
        key="audit.head", spacing=8)
    parts: list[ft.Control | None] = [error_banner(t, state), head]
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        parts.append(gate)
        return parts
    if not state.entries:
        parts.append(card(empty(t("manage.audit.empty"), key="audit.empty", icon=ft.Icons.HISTORY,
                                hint=t("manage.audit.empty_hint"))))
        return parts
    parts += [_audit_row(t, e, i) for i, e in enumerate(state.entries)]
    if state.has_more:
        parts.append(loading(t, key="audit.more_loading") if state.more_loading else ft.TextButton(
            t("manage.audit.more", n=len(state.entries), total=state.total), key="audit.more",
            on_click=lambda _: run(state.more())))
    return parts
