"""The department operator's back office: 上报 send a feed and read its report, 批次 the
department's batches, 异议 objections routed to the department."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import flet as ft

from mobile_app.api.models import DepartmentHealth, IngestReport, Objection
from mobile_app.i18n import Translator
from mobile_app.state.office import BatchesState, ObjectionQueueState, PolicyQueueState, UploadState
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
    screen,
    section,
    state_gate,
    status_chip,
)
from mobile_app.views.me import record_line

__all__ = ["build_feeds", "build_objections", "build_policy_queue", "health_card"]

Save = Callable[[str, bytes], Awaitable[None]]  # hands a file to the person (a download)
SHOWN_ROWS = 30  # rejected rows listed on the screen; all of them are in the CSV


def _source_name(t: Translator, state: UploadState, code: str | None) -> str:
    s = next((s for s in state.sources if s.code == code), None)
    if s is None:
        return code or ""
    named = t.pick(s.name_zh, s.name_en)
    return f"{named} ({s.code})" if named and named != s.code else s.code


def build_feeds(state: UploadState, batches: BatchesState, t: Translator, run: Run, *,
                pick: Callable[[], None], save: Save) -> ft.Control:
    """上报: send a feed and read its report, with the department's batches below."""
    return screen(*_upload_parts(state, t, run, pick=pick, save=save), *_batches_parts(batches, t, run, save=save),
                  key="screen.upload", on_refresh=lambda: run(batches.load()))


def _upload_parts(state: UploadState, t: Translator, run: Run, *, pick: Callable[[], None],
                  save: Save) -> list[ft.Control | None]:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return [gate]
    if not state.sources:
        return [card(empty(t("office.no_sources"), key="upload.empty"))]
    chosen = next((s for s in state.sources if s.code == state.source), None)
    columns = ", ".join(f.name + ("" if f.required else "?") for f in chosen.fields) if chosen else ""
    form = card(
        section(t("office.send_feed")),
        choice_menu("upload.source", t("office.source"), state.source,
                    [(s.code, _source_name(t, state, s.code)) for s in state.sources],
                    lambda v: state.choose(v) if v else None),
        ft.Text(t("office.columns", columns=columns), size=12, color=MUTED, key="upload.columns"),
        ft.Text(t("office.formats"), size=12, color=MUTED),
        ft.FilledButton(t("office.pick_file"), key="upload.pick", icon=ft.Icons.UPLOAD_FILE,
                        disabled=state.busy, on_click=lambda _: pick()),
        key="upload.form")
    parts: list[ft.Control | None] = [form]
    if state.busy:
        phase = t("office.uploading" if state.phase == "uploading" else "office.sending",
                  name=state.filename, percent=round(state.progress * 100))
        parts.append(card(ft.Text(phase, key="upload.phase"),
                          ft.ProgressBar(value=state.progress or None, color=PRIMARY, bgcolor="#DCE6F7"),
                          key="upload.progress"))
    elif state.phase == "failed":
        parts.append(error_banner(t, state, key="upload.error"))
    if state.report is not None:
        parts.append(_report(t, state, state.report, run, save))
    return parts


def _report(t: Translator, state: UploadState, r: IngestReport, run: Run, save: Save) -> ft.Control:
    def figure(label: str, value: int, key: str, color: str | None = None) -> ft.Control:
        return ft.Column([ft.Text(f"{value:,}", size=20, weight=ft.FontWeight.W_600, color=color, key=key),
                          ft.Text(label, size=12, color=MUTED)],
                         spacing=0, tight=True, horizontal_alignment=ft.CrossAxisAlignment.CENTER, expand=True)

    items: list[ft.Control] = [
        section(t("office.report"), trailing=ft.Text(t("office.batch", id=r.batch_id or "—"), size=12, color=MUTED)),
        ft.Text(state.filename, size=12, color=MUTED),
        ft.Row([figure(t("office.rows"), r.rows, "report.rows"),
                figure(t("office.accepted"), r.accepted, "report.accepted", "#1B9E5A"),
                figure(t("office.duplicates"), r.duplicates + r.repeated_count, "report.duplicates"),
                figure(t("office.rejected"), r.rejected_rows, "report.rejected",
                       "#D93025" if r.rejected_rows else None)]),
    ]
    if not r.rejected_rows and not r.repeated_count:
        items.append(ft.Text(t("office.all_good"), color="#1B9E5A", key="report.all_good"))
    for i, row in enumerate(r.rejected[:SHOWN_ROWS]):
        items.append(ft.Container(
            key=f"report.rejected.{i}", bgcolor="#FDECEA", border_radius=8, padding=8,
            content=ft.Text(t("office.rejected_row", row=row.row, field=row.field,
                              message=t.pick(row.message_zh, row.message_en) or row.message),
                            size=13, color="#B3261E")))
    for i, row in enumerate(r.repeated[:max(0, SHOWN_ROWS - len(r.rejected))]):
        items.append(ft.Container(
            key=f"report.repeated.{i}", bgcolor="#FFF4E5", border_radius=8, padding=8,
            content=ft.Text(t("office.repeated_row", row=row.row, first=row.first_row or "—", field=row.field),
                            size=13, color="#B26A00")))
    if r.rejected_count > SHOWN_ROWS:
        items.append(ft.Text(t("office.more_in_csv", n=r.rejected_count - SHOWN_ROWS), size=12, color=MUTED))
    if r.report_url:
        url, name = r.report_url, f"batch-{r.batch_id}-rejected.csv"

        async def fetch() -> None:
            data = await state.rejected_csv(url)
            if data is not None:
                await save(name, data)

        items.append(ft.OutlinedButton(t("office.download_rejected"), key="report.download", icon=ft.Icons.DOWNLOAD,
                                       on_click=lambda _: run(fetch())))
    return card(*items, key="upload.report", spacing=8)


def _batches_parts(state: BatchesState, t: Translator, run: Run, *, save: Save) -> list[ft.Control | None]:
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return [section(t("office.batches")), gate]
    parts: list[ft.Control | None] = [error_banner(t, state, key="batches.error"),
                                      section(t("office.batches"), trailing=icon_button(
                                          ft.Icons.REFRESH, t("common.refresh"), key="batches.refresh",
                                          on_click=lambda _: run(state.load())))]
    parts.append(health_card(state.health, t))
    if not state.items:
        parts.append(card(empty(t("office.no_batches"), key="batches.empty",
                                hint=t("office.no_batches_hint"))))
    for i, b in enumerate(state.items):
        line = t("office.batch_counts", rows=b.rows, accepted=b.accepted, duplicates=b.duplicates,
                 rejected=b.rejected)
        actions: list[ft.Control] = []
        if b.report_url:
            url, name = b.report_url, f"batch-{b.id}-rejected.csv"

            async def fetch(url: str = url, name: str = name) -> None:
                data = await state.rejected_csv(url)
                if data is not None:
                    await save(name, data)

            actions.append(ft.TextButton(t("office.download_rejected"), key=f"batches.item.{i}.download",
                                         icon=ft.Icons.DOWNLOAD, on_click=lambda _, f=fetch: run(f())))
        parts.append(card(
            ft.Row([ft.Text(t("office.batch", id=b.id), weight=ft.FontWeight.W_600),
                    ft.Text(b.source, size=12, color=MUTED, expand=True),
                    ft.Text(t.datetime(b.received_at), size=12, color=MUTED)]),
            ft.Text(b.filename or "—", size=12, color=MUTED, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Text(line, size=13, color="#B3261E" if b.rejected else None),
            *actions, key=f"batches.item.{i}", spacing=4))
    return parts


def _share(x: float | None, digits: int = 0) -> str:
    return "—" if x is None else f"{x:.{digits}%}"


def health_card(h: DepartmentHealth | None, t: Translator, *, key: str = "health",
                named: bool = False) -> ft.Control | None:
    """How a department's feeds serve the platform: coverage, lateness, rejected rows and
    where its data disagrees with other departments' (aggregates only). ``named``: the title
    names the department (the admin's list of every department)."""
    if h is None:
        return None
    title = t("office.health", month=h.month or "—")
    if named:
        title = f"{t.pick(h.name_zh, h.name_en) or h.department} · {title}"
    lines: list[ft.Control] = [ft.Text(title, weight=ft.FontWeight.W_600, key=f"{key}.title")]
    if h.coverage is not None:
        lines.append(ft.Text(t("office.health_coverage", share=_share(h.coverage), reported=h.firms_reported,
                               trading=h.firms_trading, continuity=_share(h.continuity)),
                             size=13, key=f"{key}.coverage"))
    if h.lateness_days_median is not None:
        lines.append(ft.Text(t("office.health_lateness", median=f"{h.lateness_days_median:g}",
                               p90=f"{h.lateness_days_p90:g}", late=_share(h.late_share)),
                             size=13, key=f"{key}.lateness"))
    lines.append(ft.Text(t("office.health_rejected", share=_share(h.rejected_rate, 1), rejected=h.rejected_90d,
                           rows=h.rows_90d), size=13, key=f"{key}.rejected",
                         color="#B3261E" if (h.rejected_rate or 0) > 0.01 else None))
    for check, share in h.disagreement.items():
        lines.append(ft.Text(t("office.health_disagree", check=t(f"office.check.{check}"), share=_share(share, 1)),
                             size=13, key=f"{key}.disagree.{check}", color="#8A5300" if share > 0.02 else MUTED))
    return card(*lines, key=key, spacing=4)


def _objection_row(t: Translator, o: Objection, i: int, state: ObjectionQueueState, run: Run) -> ft.Control:
    box = card(
        ft.Row([ft.Text(o.firm_name, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                status_chip(t, o.status)]),
        ft.Text(f"{t.pick(o.source_name_zh, o.source_name_en) or o.source} · {t.date(o.created_at)}",
                size=12, color=MUTED),
        ft.Text(o.reason, size=13, max_lines=3, overflow=ft.TextOverflow.ELLIPSIS),
        ft.Row([ft.TextButton(t("office.open_objection"), key=f"objections.item.{i}.open",
                              icon=ft.Icons.CHEVRON_RIGHT, on_click=lambda _: run(state.open(o.id)))],
               alignment=ft.MainAxisAlignment.END),
        key=f"objections.item.{i}", spacing=4)
    box.on_click = lambda _: run(state.open(o.id))
    return box


def _queue_head(state: ObjectionQueueState | PolicyQueueState, t: Translator, run: Run, key: str, title: str, when_empty: str,
                icon: ft.IconData) -> list[ft.Control | None]:
    """A queue screen's top: the error, the title with the count and a refresh button, and the
    empty state when there is nothing to decide."""
    parts: list[ft.Control | None] = [
        error_banner(t, state),
        section(title, trailing=icon_button(ft.Icons.REFRESH, t("common.refresh"), key=f"{key}.refresh",
                                            on_click=lambda _: run(state.load())))]
    if not state.items:
        parts.append(card(empty(when_empty, key=f"{key}.empty", icon=icon)))
    return parts


def build_objections(state: ObjectionQueueState, t: Translator, run: Run) -> ft.Control:
    if state.detail is not None:
        return _objection_detail(state, t, run)
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(gate, key="screen.objections")
    parts = _queue_head(state, t, run, "objections", t("office.objections", n=state.open_count),
                        t("office.no_objections"), ft.Icons.TASK_ALT)
    parts += [_objection_row(t, o, i, state, run) for i, o in enumerate(state.items)]
    return screen(*parts, key="screen.objections", on_refresh=lambda: run(state.load()))


def _objection_detail(state: ObjectionQueueState, t: Translator, run: Run) -> ft.Control:
    d = state.detail
    assert d is not None
    o = d.objection
    head = ft.Row([icon_button(ft.Icons.ARROW_BACK, t("common.back"), key="objection.back",
                               on_click=lambda _: state.close()),
                   ft.Text(o.firm_name, size=16, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                   status_chip(t, o.status)])
    facts = card(
        section(t("office.disputed_record")),
        ft.Text(record_line(t, d.record), key="objection.record"),
        ft.Text(t("office.owner_says", reason=o.reason), size=13, key="objection.reason"),
        *([ft.Text(t("office.proposed", values=", ".join(f"{k} = {v}" for k, v in o.proposed.items())),
                   size=13, color=PRIMARY, key="objection.proposed")] if o.proposed else []),
        key="objection.facts")
    parts: list[ft.Control | None] = [head, error_banner(t, state), facts]
    if o.status == "open":
        def setter(name: str):  # noqa: ANN202
            return lambda e: state.values.__setitem__(name, e.control.value or "")

        def reason(e: ft.Event[ft.TextField]) -> None:
            state.reason = e.control.value or ""

        fields = [ft.TextField(key=f"objection.value.{name}", label=t("office.corrected_value", field=t(f"field.{name}")
                                                                      if f"field.{name}" in t else name),
                               value=state.values.get(name, ""), on_change=setter(name), border_radius=10, dense=True)
                  for name in d.record.correctable]
        form: list[ft.Control] = [section(t("office.resolve")),
                                  ft.Text(t("office.correct_hint"), size=12, color=MUTED), *fields,
                                  ft.TextField(key="objection.reply", label=t("office.reply"), value=state.reason,
                                               on_change=reason, border_radius=10, multiline=True, min_lines=1),
                                  ft.Row([
                                      ft.FilledButton(t("office.correct"), key="objection.correct", icon=ft.Icons.CHECK,
                                                      disabled=state.deciding, style=ft.ButtonStyle(bgcolor="#1B9E5A"),
                                                      on_click=lambda _: run(state.resolve("correct")), expand=True),
                                      ft.OutlinedButton(t("office.reject"), key="objection.reject", icon=ft.Icons.CLOSE,
                                                        disabled=state.deciding,
                                                        on_click=lambda _: run(state.resolve("reject")), expand=True),
                                  ], spacing=8)]
        if state.invalid:
            form.insert(1, ft.Text(t(state.invalid), color="#B3261E", size=12, key="objection.invalid"))
        parts.append(card(*form, key="objection.form", spacing=10))
    else:
        parts.append(card(section(t("office.resolution")),
                          ft.Text(t.status(o.status) + (f" · {o.resolution}" if o.resolution else ""),
                                  key="objection.resolution"),
                          *([ft.Text(record_line(t, d.corrected_record), size=13, color="#1B9E5A")]
                            if d.corrected_record else []),
                          key="objection.done"))
    trail = [ft.Text(f"{t.datetime(e.at)} · {t.pick(e.text_zh, e.text_en)}", size=12, color=MUTED)
             for e in d.trail]
    if trail:
        parts.append(card(section(t("me.objection_trail")), *trail, key="objection.trail", spacing=4))
    return screen(*parts, key="screen.objection")


_TERMS = (("granted", "office.terms_granted"), ("months", "office.terms_months"), ("jobs", "office.terms_jobs"),
          ("tax", "office.terms_tax"), ("investment", "office.terms_investment"))


def _terms_fields(state: PolicyQueueState, t: Translator, application_id: int, key: str) -> list[ft.Control]:
    """The project an approval opens: the grant, the period and the promised outcomes."""
    typed = state.terms.setdefault(application_id, {})

    def field(name: str, label: str) -> ft.TextField:
        def changed(e: ft.Event[ft.TextField]) -> None:
            typed[name] = e.control.value or ""

        return ft.TextField(key=f"{key}.terms.{name}", label=t(label), value=typed.get(name, ""), expand=True,
                            keyboard_type=ft.KeyboardType.NUMBER, on_change=changed, border_radius=10, dense=True)

    fields = [field(name, label) for name, label in _TERMS]
    return [ft.Text(t("office.terms"), size=12, color=MUTED),
            ft.Row(fields[:2], spacing=8), ft.Row(fields[2:4], spacing=8), ft.Row(fields[4:], spacing=8)]


def build_policy_queue(state: PolicyQueueState, t: Translator, run: Run, *,
                       head: ft.Control | None = None) -> ft.Control:
    """政策申请: applications for the department's policies, each with the applicant's score
    (``head``: the switch to the projects they opened)."""
    gate = state_gate(t, state, lambda: run(state.load()))
    if gate is not None:
        return screen(head, gate, key="screen.policy_queue")
    parts = [head, *_queue_head(state, t, run, "policy_queue", t("office.policy_queue", n=state.pending),
                                t("office.no_policy_applications"), ft.Icons.ASSIGNMENT_TURNED_IN_OUTLINED)]
    for i, a in enumerate(state.items):
        ev = a.evaluation
        items: list[ft.Control] = [
            ft.Row([ft.Text(a.firm_name, weight=ft.FontWeight.W_600, expand=True, max_lines=2),
                    status_chip(t, a.status)]),
            ft.Text(f"{a.policy_title} · {t.date(a.created_at)}", size=12, color=MUTED),
        ]
        if ev is not None:
            items.append(ft.Text(t("office.applicant_score", grade=ev.grade, score=ev.score, date=ev.as_of),
                                 size=13, color=GRADE_COLORS.get(ev.grade, MUTED), key=f"policy_queue.{i}.score"))
        if a.status == "pending":
            def reason(e: ft.Event[ft.TextField], aid: int = a.id) -> None:
                state.reasons[aid] = e.control.value or ""

            if a.id in state.invalid:
                items.append(ft.Text(t(state.invalid[a.id]), color="#B3261E", size=12, key=f"policy_queue.{i}.invalid"))
            busy = state.deciding == a.id
            items += _terms_fields(state, t, a.id, f"policy_queue.{i}")
            items += [
                ft.TextField(key=f"policy_queue.{i}.reason", label=t("office.reject_reason"),
                             value=state.reasons.get(a.id, ""), on_change=reason, border_radius=10, dense=True),
                ft.Row([
                    ft.FilledButton(t("office.approve"), key=f"policy_queue.{i}.approve", icon=ft.Icons.CHECK,
                                    disabled=busy, style=ft.ButtonStyle(bgcolor="#1B9E5A"), expand=True,
                                    on_click=lambda _, aid=a.id: run(state.decide(aid, "approve"))),
                    ft.OutlinedButton(t("office.reject"), key=f"policy_queue.{i}.reject", icon=ft.Icons.CLOSE,
                                      disabled=busy, expand=True,
                                      on_click=lambda _, aid=a.id: run(state.decide(aid, "reject"))),
                ], spacing=8),
            ]
        elif a.reason:
            items.append(ft.Text(a.reason, size=12, color=MUTED))
        if a.project_id is not None:
            items.append(ft.Text(t("office.project_opened"), size=12, color="#1B9E5A", key=f"policy_queue.{i}.project"))
        parts.append(card(*items, key=f"policy_queue.{i}", spacing=6))
    return screen(*parts, key="screen.policy_queue", on_refresh=lambda: run(state.load()))
