"""The admin's back office: 权重 weight profiles, 模型 model versions, 基金 the guarantee fund,
账户 accounts."""

from __future__ import annotations

import flet as ft

from mobile_app.api.models import ModelVersionInfo
from mobile_app.i18n import Translator
from mobile_app.state.admin import (
    DIMENSION_TARGETS,
    FUND_GRADES,
    STAFF_ROLES,
    AccountsState,
    FundState,
    ModelsState,
    WeightsState,
)
from mobile_app.views.common import (
    GRADE_COLORS,
    MUTED,
    PRIMARY,
    Run,
    card,
    choice_menu,
    empty,
    error_banner,
    icon_button,
    loading,
    pill,
    screen,
    section,
    state_gate,
)

__all__ = ["accounts_parts", "build_accounts", "build_fund", "build_models", "build_weights"]

GRADES = ("A", "B", "C", "D")


def _target(t: Translator, target: str) -> str:
    kind, _, code = target.partition(":")
    if kind == "dimension" and f"credit.dim.{code}" in t:
        return t("admin.target.dimension", name=t(f"credit.dim.{code}"))
    return target


def _yuan(t: Translator, fen: int) -> str:
    return t("common.yuan", amount=t.money(fen / 100))


# -- weight profiles ----------------------------------------------------------------------------

def build_weights(state: WeightsState, t: Translator, run: Run) -> ft.Control:
    if state.editing:
        return _profile_form(state, t, run)
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.weights")
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.saved is not None:
        s = state.saved
        parts.append(card(ft.Text(t("admin.profile_saved", name=s.name, version=s.version, date=s.valid_from),
                                  color="#1B9E5A", key="weights.saved"),
                          *([ft.Text(t("admin.rescoring"), size=12, color=MUTED)] if s.rescoring else []),
                          key="weights.notice"))
    parts.append(section(t("admin.profiles"), trailing=ft.TextButton(
        t("admin.new_profile"), key="weights.new", icon=ft.Icons.ADD, on_click=lambda _: state.new())))
    if not state.profiles:
        parts.append(card(empty(t("admin.no_profiles"), key="weights.empty", hint=t("admin.no_profiles_hint"),
                                action=(t("admin.new_profile"), state.new))))
    for i, p in enumerate(state.profiles):
        adj = "、".join(f"{_target(t, a.target)} ×{a.factor:g}" for a in p.adjustments) if t.zh else \
            "; ".join(f"{_target(t, a.target)} ×{a.factor:g}" for a in p.adjustments)
        span = t("admin.valid", start=p.valid_from, end=p.valid_to or t("admin.open_ended"))
        parts.append(card(
            ft.Row([ft.Text(p.name, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                    pill(p.version, PRIMARY)]),
            ft.Text(adj, size=13),
            ft.Text(f"{span} · {p.reason}", size=12, color=MUTED, max_lines=2, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Row([ft.TextButton(t("admin.revise"), key=f"weights.item.{i}.revise", icon=ft.Icons.EDIT,
                                  on_click=lambda _, n=p.name: state.revise(n))],
                   alignment=ft.MainAxisAlignment.END),
            key=f"weights.item.{i}", spacing=4))
    return screen(*parts, key="screen.weights", on_refresh=lambda: run(state.load()))


def _profile_form(state: WeightsState, t: Translator, run: Run) -> ft.Control:
    d = state.draft

    def setter(name: str):  # noqa: ANN202
        return lambda e: d.__setitem__(name, e.control.value or "")

    def factor(i: int):  # noqa: ANN202
        return lambda e: state.rows[i].__setitem__(1, e.control.value or "")

    rows: list[ft.Control] = []
    for i, (target, value) in enumerate(state.rows):
        rows.append(ft.Row([
            ft.Text(_target(t, target), expand=True, size=14),
            ft.TextField(key=f"profile.factor.{i}", label=t("admin.factor_of", target=_target(t, target)),
                         value=value, width=190, dense=True, border_radius=10,
                         keyboard_type=ft.KeyboardType.NUMBER, on_change=factor(i)),
            icon_button(ft.Icons.DELETE_OUTLINE, t("admin.remove_target", target=_target(t, target)),
                        key=f"profile.remove.{i}", on_click=lambda _, i=i: state.remove_row(i),
                        disabled=len(state.rows) <= 1),
        ], spacing=6, vertical_alignment=ft.CrossAxisAlignment.CENTER))
    unused = [x for x in DIMENSION_TARGETS if all(r[0] != x for r in state.rows)]
    if unused:
        rows.append(choice_menu("profile.add", t("admin.add_target"), None,
                                [(x, _target(t, x)) for x in unused], lambda v: state.add_row(v) if v else None))
    form: list[ft.Control] = [
        ft.Row([icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="profile.back",
                            on_click=lambda _: state.cancel()),
                ft.Text(t("admin.edit_profile"), size=16, weight=ft.FontWeight.W_600, expand=True)]),
        ft.TextField(key="profile.name", label=t("admin.profile_name"), value=d.get("name", ""),
                     on_change=setter("name"), border_radius=10),
        ft.TextField(key="profile.reason", label=t("admin.profile_reason"), value=d.get("reason", ""),
                     on_change=setter("reason"), border_radius=10),
        ft.TextField(key="profile.valid_from", label=t("admin.valid_from"), value=d.get("valid_from", ""),
                     hint_text="2026-12-01", on_change=setter("valid_from"), border_radius=10),
        ft.Text(t("admin.factor_hint"), size=12, color=MUTED),
        *rows,
    ]
    if state.invalid:
        form.insert(1, ft.Text(t(state.invalid), color="#B3261E", size=12, key="profile.invalid"))
    buttons = ft.Row([
        ft.OutlinedButton(t("admin.preview"), key="profile.preview", icon=ft.Icons.PREVIEW, disabled=state.busy,
                          on_click=lambda _: run(state.run_preview()), expand=True),
        ft.FilledButton(t("admin.save_profile"), key="profile.save", icon=ft.Icons.SAVE,
                        disabled=state.busy or not state.preview_current,
                        on_click=lambda _: run(state.save()), expand=True),
    ], spacing=8)
    parts: list[ft.Control | None] = [card(*form, key="profile.form", spacing=10), error_banner(t, state)]
    if state.busy:
        parts.append(ft.ProgressBar(color=PRIMARY, bgcolor="#DCE6F7"))
    if state.preview is not None:
        parts.append(_preview(t, state))
    parts.append(buttons)
    if not state.preview_current:
        parts.append(ft.Text(t("admin.preview_first"), size=12, color=MUTED))
    return screen(*parts, key="screen.profile")


def _preview(t: Translator, state: WeightsState) -> ft.Control:
    p = state.preview
    assert p is not None
    stale = not state.preview_current
    items: list[ft.Control] = [
        section(t("admin.preview_title", date=p.as_of)),
        ft.Text(t("admin.preview_summary", changed=p.changed, firms=p.firms, share=f"{p.share:.1%}"),
                size=15, weight=ft.FontWeight.W_600, key="preview.summary"),
        ft.Text(t("admin.preview_moves", up=p.up, down=p.down, two=p.moved_two_or_more,
                  mean=f"{p.mean_score_change:+.1f}"), size=13, key="preview.moves"),
    ]
    if stale:
        items.append(ft.Text(t("admin.preview_stale"), size=12, color="#B26A00"))
    for i, m in enumerate(p.moved[:8]):
        items.append(ft.Row([
            ft.Text(m.name, size=13, expand=True, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Text(f"{m.grade_from} → {m.grade_to}", size=13, weight=ft.FontWeight.W_600,
                    color=GRADE_COLORS.get(m.grade_to, MUTED)),
            ft.Text(f"{m.score_from} → {m.score_to}", size=12, color=MUTED),
        ], key=f"preview.moved.{i}", spacing=8))
    if not p.moved:
        items.append(ft.Text(t("admin.preview_none"), size=13, color="#1B9E5A", key="preview.none"))
    return card(*items, key="profile.preview_card", spacing=6)


# -- model versions -----------------------------------------------------------------------------

def _metric(m: dict[str, object], *names: str) -> str:
    for name in names:
        value = m.get(name)
        if isinstance(value, int | float):
            return f"{value:.3f}"
    return "—"


def _version_card(t: Translator, v: ModelVersionInfo, i: int, state: ModelsState, run: Run,
                  active: ModelVersionInfo | None) -> ft.Control:
    m, gc = v.metrics, v.grade_changes
    chips: list[ft.Control] = []
    if v.active:
        chips.append(pill(t("admin.model.active"), "#1B9E5A", filled=True, key=f"models.item.{i}.active"))
    elif v.awaiting_confirmation:
        chips.append(pill(t("admin.model.waiting"), "#E08A00", filled=True, key=f"models.item.{i}.waiting"))
    items: list[ft.Control] = [
        ft.Row([ft.Text(v.version, weight=ft.FontWeight.W_600, expand=True), *chips]),
        ft.Text(t("admin.model.trained_at", at=t.datetime(v.created_at)), size=12, color=MUTED),
        ft.Text(t("admin.model.figures", auc=_metric(m, "oot_auc", "auc"), ks=_metric(m, "oot_ks", "ks"),
                  psi=_metric(m, "psi", "oot_psi")), size=13, key=f"models.item.{i}.figures"),
    ]
    if active is not None and not v.active:
        items.append(ft.Text(t("admin.model.vs_active", auc=_metric(active.metrics, "oot_auc", "auc"),
                               ks=_metric(active.metrics, "oot_ks", "ks")), size=12, color=MUTED))
    if gc.get("firms"):
        items.append(ft.Text(t("admin.model.changes", changed=gc.get("changed", 0), firms=gc.get("firms", 0),
                               share=f"{float(gc.get('share', 0.0)):.1%}", against=gc.get("against", "—")),
                             size=13, key=f"models.item.{i}.changes"))
    if v.grade_min_scores:
        items.append(ft.Text(t("admin.model.cuts", cuts=" · ".join(
            f"{g} ≥ {v.grade_min_scores[g]}" for g in GRADES if g in v.grade_min_scores)), size=12, color=MUTED))
    if not v.active:
        label = t("admin.model.promote" if v.awaiting_confirmation or active is None
                  or v.created_at > active.created_at else "admin.model.rollback")
        if state.confirm == v.version:
            items += [
                ft.Text(t("admin.model.confirm", share=f"{float(gc.get('share', 0.0)):.1%}"), color="#B26A00",
                        size=13, key=f"models.item.{i}.confirm_text"),
                ft.Row([ft.FilledButton(t("admin.model.confirm_yes"), key=f"models.item.{i}.confirm",
                                        on_click=lambda _: run(state.promote(v.version, confirm=True)), expand=True),
                        ft.OutlinedButton(t("common.cancel"), key=f"models.item.{i}.cancel",
                                          on_click=lambda _: state.cancel_confirm(), expand=True)], spacing=8),
            ]
        else:
            items.append(ft.Row([ft.FilledButton(label, key=f"models.item.{i}.promote", icon=ft.Icons.PUBLISH,
                                                 disabled=state.busy, on_click=lambda _: run(state.promote(v.version)))],
                                alignment=ft.MainAxisAlignment.END))
    return card(*items, key=f"models.item.{i}", spacing=4)


def build_models(state: ModelsState, t: Translator, run: Run) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.models")
    tr = state.training
    running = tr.status == "running"
    train: list[ft.Control] = [
        section(t("admin.model.training")),
        ft.Text(t("admin.model.train_hint"), size=12, color=MUTED),
    ]
    if running:
        train += [ft.Text(t("admin.model.running", at=t.datetime(tr.started_at)), key="models.running"),
                  ft.ProgressBar(color=PRIMARY, bgcolor="#DCE6F7")]
    elif tr.status == "failed":
        train.append(ft.Text(t("admin.model.failed", error=tr.error or ""), color="#B3261E", key="models.failed"))
    elif tr.status == "done" and tr.version:
        made = next((v for v in state.versions if v.version == tr.version), None)
        waiting = made is not None and made.awaiting_confirmation
        train.append(ft.Text(t("admin.model.done" if waiting else "admin.model.done_reviewed", version=tr.version,
                               at=t.datetime(tr.finished_at)), color="#1B9E5A", key="models.done"))
    train.append(ft.FilledButton(t("admin.model.train"), key="models.train", icon=ft.Icons.MODEL_TRAINING,
                                 disabled=running or state.busy, on_click=lambda _: run(state.train())))
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.notice:
        parts.append(card(ft.Text(t(state.notice), color="#1B9E5A", key="models.notice")))
    parts.append(card(*train, key="models.train_card", spacing=8))
    parts.append(section(t("admin.model.versions", n=len(state.versions))))
    if not state.versions:
        parts.append(card(empty(t("admin.model.none"), key="models.empty")))
    active = state.active
    parts += [_version_card(t, v, i, state, run, active) for i, v in enumerate(state.versions)]
    return screen(*parts, key="screen.models", on_refresh=lambda: run(state.load()))


# -- the guarantee fund -------------------------------------------------------------------------

def build_fund(state: FundState, t: Translator, run: Run) -> ft.Control:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.fund")
    f = state.overview
    if f is None:  # the answer is being stored
        return screen(loading(t), key="screen.fund")

    def line(label: str, value: str, key: str) -> ft.Control:
        return ft.Row([ft.Text(label, color=MUTED, size=13, expand=True), ft.Text(value, size=14, key=key)])

    shares = " · ".join(f"{g} {f.share_pct[g]}%" for g in GRADES if g in f.share_pct)
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.editing:
        parts.append(_limits_form(state, t, run))
    elif state.saved:
        parts.append(card(ft.Text(t("admin.fund.saved"), color="#1B9E5A", key="fund.saved")))
    parts += [
        card(section(f.name, trailing=ft.Row([
                 icon_button(ft.Icons.REFRESH, t("common.refresh"), key="fund.refresh",
                             on_click=lambda _: run(state.load())),
                 *([] if state.editing else [ft.TextButton(t("admin.fund.edit"), key="fund.edit", icon=ft.Icons.TUNE,
                                                           on_click=lambda _: state.edit())]),
             ], tight=True, spacing=0)),
             line(t("admin.fund.capital"), _yuan(t, f.capital_fen), "fund.capital"),
             line(t("admin.fund.balance"), _yuan(t, f.balance_fen), "fund.balance"),
             line(t("admin.fund.exposure"), _yuan(t, f.exposure_fen), "fund.exposure"),
             line(t("admin.fund.capacity"), _yuan(t, f.available_capacity_fen), "fund.capacity"),
             line(t("admin.fund.limits"), t("admin.fund.limits_value", total=_yuan(t, f.limit_total_fen),
                                            firm=_yuan(t, f.limit_per_firm_fen)), "fund.limits"),
             line(t("admin.fund.claims"), t("admin.fund.claims_value", n=f.claims_count,
                                            amount=_yuan(t, f.claims_paid_fen)), "fund.claims"),
             line(t("admin.fund.npl_limit"), f"{f.npl_limit_bp / 100:.2f}%", "fund.npl_limit"),
             line(t("admin.fund.shares"), shares, "fund.shares"),
             key="fund.overview", spacing=6),
    ]
    if f.banks:
        rows = [section(t("admin.fund.banks"))]
        for i, b in enumerate(f.banks):
            rows.append(ft.Column([
                ft.Row([ft.Text(b.bank_name, weight=ft.FontWeight.W_600, expand=True),
                        *([pill(t("admin.fund.suspended"), "#D93025", filled=True)] if b.suspended else [])]),
                ft.Text(t("admin.fund.bank_line", loans=b.covered_loans, principal=_yuan(t, b.covered_principal_fen),
                          exposure=_yuan(t, b.exposure_fen), npl=f"{b.npl_bp / 100:.2f}%"), size=12, color=MUTED),
            ], spacing=2, key=f"fund.bank.{i}"))
        parts.append(card(*rows, key="fund.banks", spacing=8))
    ledger: list[ft.Control] = [section(t("admin.fund.ledger", n=state.ledger_total))]
    if not state.ledger:
        ledger.append(empty(t("admin.fund.no_ledger"), key="fund.ledger.empty"))
    for i, e in enumerate(state.ledger):
        kind = t(f"admin.fund.kind.{e.kind}") if f"admin.fund.kind.{e.kind}" in t else e.kind
        ledger.append(ft.Row([
            ft.Text(t.date(e.at), size=12, color=MUTED, width=84),
            ft.Text(kind, size=13, width=64),
            ft.Text(_yuan(t, e.amount_fen), size=13, expand=True, text_align=ft.TextAlign.RIGHT),
        ], key=f"fund.ledger.{i}"))
    parts.append(card(*ledger, key="fund.ledger", spacing=4))
    return screen(*parts, key="screen.fund", on_refresh=lambda: run(state.load()))


def _limits_form(state: FundState, t: Translator, run: Run) -> ft.Control:
    """The fund's limits, its banks' NPL ceiling and its loss shares, changed with a reason."""
    d = state.draft

    def field(name: str, label: str, *, suffix: str | None = None, hint: str | None = None) -> ft.TextField:
        return ft.TextField(key=f"fund.form.{name}", label=label, value=d.get(name, ""), suffix=suffix,
                            hint_text=hint, keyboard_type=ft.KeyboardType.NUMBER, border_radius=10, expand=True,
                            on_change=lambda e: d.__setitem__(name, e.control.value or ""))

    items: list[ft.Control] = [section(t("admin.fund.edit_title"))]
    if state.invalid:
        items.append(ft.Text(t(state.invalid), color="#B3261E", size=12, key="fund.form.invalid"))
    items += [
        ft.Row([field("limit_total_yuan", t("admin.fund.limit_total"), suffix=t("admin.fund.unit_yuan")),
                field("limit_per_firm_yuan", t("admin.fund.limit_per_firm"), suffix=t("admin.fund.unit_yuan"))],
               spacing=8),
        field("npl_limit_pct", t("admin.fund.npl_limit"), suffix="%"),
        ft.Text(t("admin.fund.shares_hint"), size=12, color=MUTED),
        ft.Row([field(f"share_{g}", t("admin.fund.share_of", grade=g), suffix="%") for g in FUND_GRADES], spacing=8),
        ft.TextField(key="fund.form.reason", label=t("admin.fund.reason"), value=d.get("reason", ""),
                     hint_text=t("admin.fund.reason_hint"), border_radius=10,
                     on_change=lambda e: d.__setitem__("reason", e.control.value or "")),
        ft.Row([
            ft.FilledButton(t("admin.fund.save"), key="fund.form.save", icon=ft.Icons.CHECK, expand=True,
                            disabled=state.busy, on_click=lambda _: run(state.save_limits())),
            ft.OutlinedButton(t("common.cancel"), key="fund.form.cancel", expand=True,
                              on_click=lambda _: state.cancel()),
        ], spacing=8),
    ]
    return card(*items, key="fund.form", spacing=10)


# -- accounts -----------------------------------------------------------------------------------

def build_accounts(state: AccountsState, t: Translator, run: Run) -> ft.Control:
    return screen(*accounts_parts(state, t, run), key="screen.accounts", on_refresh=lambda: run(state.load()))


def accounts_parts(state: AccountsState, t: Translator, run: Run) -> list[ft.Control | None]:
    """The accounts list with its role filter and the form that opens one (the 管理 tab's first
    part)."""
    roles = [("", t("common.all")), *[(r, t(f"role.{r}")) for r in (*STAFF_ROLES, "owner")]]
    head: list[ft.Control] = [
        section(t("admin.accounts"), trailing=ft.TextButton(t("admin.open_account"), key="accounts.new",
                                                             icon=ft.Icons.PERSON_ADD, on_click=lambda _: state.start())),
        choice_menu("accounts.role", t("auth.role"), state.role, roles, lambda v: run(state.filter(v))),
    ]
    parts: list[ft.Control | None] = [error_banner(t, state)]
    if state.created is not None:
        c = state.created
        parts.append(card(ft.Text(t("admin.account_opened", name=c.display_name or c.phone, role=t(f"role.{c.role}")),
                                  color="#1B9E5A", key="accounts.created")))
    if state.opening:
        parts.append(_account_form(state, t, run))
    parts.append(card(*head, key="accounts.head", spacing=8))
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        parts.append(gate)
        return parts
    if not state.items:
        parts.append(card(empty(t("admin.no_accounts"), key="accounts.empty")))
    for i, a in enumerate(state.items):
        where = a.department or (f"#{a.bank_id}" if a.bank_id else "") or (a.firm_uscc or "")
        parts.append(card(
            ft.Row([ft.Text(a.display_name or a.phone, weight=ft.FontWeight.W_600, expand=True),
                    pill(t(f"role.{a.role}"), PRIMARY),
                    *([] if a.is_active else [pill(t("admin.inactive"), MUTED)])]),
            ft.Text(" · ".join(x for x in (a.phone, where) if x), size=12, color=MUTED),
            key=f"accounts.item.{i}", spacing=4, padding=12))
    return parts


def _account_form(state: AccountsState, t: Translator, run: Run) -> ft.Control:
    d = state.draft

    def setter(name: str):  # noqa: ANN202
        return lambda e: d.__setitem__(name, e.control.value or "")

    role = d.get("role", "bank_manager")

    def pick_role(value: str | None) -> None:
        d["role"] = value or "bank_manager"
        state.notify()

    items: list[ft.Control] = [
        section(t("admin.open_account")),
        choice_menu("account.role", t("auth.role"), role, [(r, t(f"role.{r}")) for r in STAFF_ROLES], pick_role),
        ft.TextField(key="account.phone", label=t("auth.phone"), value=d.get("phone", ""), on_change=setter("phone"),
                     keyboard_type=ft.KeyboardType.PHONE, border_radius=10),
        ft.TextField(key="account.name", label=t("auth.display_name"), value=d.get("display_name", ""),
                     on_change=setter("display_name"), border_radius=10),
        ft.TextField(key="account.password", label=t("admin.initial_password"), value=d.get("password", ""),
                     on_change=setter("password"), border_radius=10, password=True),
    ]
    if role == "bank_manager":
        items.append(ft.TextField(key="account.bank", label=t("admin.bank_id"), value=d.get("bank_id", ""),
                                  on_change=setter("bank_id"), keyboard_type=ft.KeyboardType.NUMBER, border_radius=10))
    if role == "dept_operator":
        items.append(ft.TextField(key="account.department", label=t("admin.department"),
                                  value=d.get("department", ""), hint_text="tax", on_change=setter("department"),
                                  border_radius=10))
    if state.invalid:
        items.insert(1, ft.Text(t(state.invalid), color="#B3261E", size=12, key="account.invalid"))
    items.append(ft.Row([
        ft.FilledButton(t("admin.open_account"), key="account.open", icon=ft.Icons.CHECK,
                        on_click=lambda _: run(state.open_account()), expand=True),
        ft.OutlinedButton(t("common.cancel"), key="account.cancel", on_click=lambda _: state.cancel(), expand=True),
    ], spacing=8))
    return card(*items, key="accounts.form", spacing=10)
