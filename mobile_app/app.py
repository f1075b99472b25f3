"""The app shell: sign-in, then one bottom-navigation set of screens per role, and live push.

States hold everything; the shell re-renders the current screen whenever one of them changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flet as ft

from mobile_app.api import ApiClient, PushStream
from mobile_app.files import FileBridge
from mobile_app.i18n import Translator
from mobile_app.state import (
    AccountsState,
    AuditState,
    BanksState,
    BatchesState,
    CreditState,
    FinancingState,
    FirmOverviewState,
    FundState,
    InboxState,
    Loadable,
    ManageState,
    MeState,
    ModelsState,
    ObjectionQueueState,
    PoliciesState,
    PolicyQueueState,
    PortfolioState,
    ProjectPortfolioState,
    ProjectsState,
    ProspectsState,
    QueueState,
    SearchState,
    SessionState,
    Store,
    UploadState,
    WatchlistState,
    WeightsState,
)
from mobile_app.state.manage import FeedHealthState
from mobile_app.state.region import IndexState, ReportsState, ThematicState
from mobile_app.views import (
    admin,
    credit,
    financing,
    firm,
    login,
    manage,
    me,
    messages,
    office,
    policies,
    portfolio,
    projects,
    prospects,
    queue,
    region,
    search,
    thematic,
    watchlist,
)
from mobile_app.views.common import BG, FONT_FAMILY, PRIMARY, card, section

__all__ = ["ASSETS_DIR", "FONT_FAMILY", "FONT_FILE", "MIN_TOUCH_PX", "Tab", "XinbaoApp", "touch_theme"]

log = logging.getLogger(__name__)
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
FONT_FILE = "/fonts/NotoSansSC-Subset.otf"
MAX_CONTENT_WIDTH = 960  # px: wider windows centre the screen's cards


@dataclass
class Tab:
    key: str  # catalogue key of the label, also the tab's id ("nav.credit")
    icon: ft.IconData
    selected_icon: ft.IconData
    state: Loadable
    build: Callable[[Translator], ft.Control]
    badge: Callable[[], int] | None = None
    also: tuple[Loadable, ...] = ()  # other states the screen shows (search shows what is watched)


MIN_TOUCH_PX = 44  # every control a finger taps is at least this tall and wide (issue 13)


def touch_theme() -> ft.Theme:
    """The app's theme: its font and colour, and touch targets of at least ``MIN_TOUCH_PX`` on
    every platform. Flutter shrinks buttons to 32 px on desktop platforms (a desktop browser
    counts as one, and so does a phone's browser showing the web app in some modes); the
    standard density and the paddings below keep every button, chip and icon button at 44 px
    or more (``tests/e2e`` measures them)."""
    pad = ft.ButtonStyle(padding=ft.Padding.symmetric(horizontal=16, vertical=13))
    return ft.Theme(
        font_family=FONT_FAMILY, color_scheme_seed=PRIMARY, visual_density=ft.VisualDensity.STANDARD,
        text_button_theme=ft.TextButtonTheme(style=pad), outlined_button_theme=ft.OutlinedButtonTheme(style=pad),
        filled_button_theme=ft.FilledButtonTheme(style=pad),
        segmented_button_theme=ft.SegmentedButtonTheme(
            style=ft.ButtonStyle(padding=ft.Padding.symmetric(horizontal=12, vertical=16))),
        icon_button_theme=ft.IconButtonTheme(style=ft.ButtonStyle(padding=ft.Padding.all(10))),
    )


class XinbaoApp:
    """One person's app on one page (web session or device)."""

    def __init__(self, page: ft.Page, client: ApiClient, store: Store) -> None:
        self.page = page
        self.client = client
        self.session = SessionState(client=client, store=store)
        self.session.subscribe(self._on_session)
        self.tabs: list[Tab] = []
        self.index = 0
        self.inbox: InboxState | None = None
        self.firm: FirmOverviewState | None = None  # a firm opened from a list, over the tab
        self.push: PushStream | None = None
        self._entered_as: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._rendering = False
        self._chrome: ft.Container | None = None
        self._drawn_side = 12
        self.files: FileBridge | None = None  # the file picker (operators send feeds with it)

    # -- running intents ---------------------------------------------------------------------

    def run(self, work: Awaitable[Any]) -> None:
        """Start an intent in the background; states notify, the shell re-renders."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- start, sign in and out ----------------------------------------------------------------

    async def start(self) -> None:
        page = self.page
        page.title = "信宝 Xinbao"
        page.fonts = {FONT_FAMILY: FONT_FILE}
        page.theme = touch_theme()
        page.theme_mode = ft.ThemeMode.LIGHT
        page.bgcolor = BG
        page.padding = 0
        page.on_disconnect = lambda _: self.run(self.close())
        page.on_resize = self._resized
        self.files = FileBridge(page)
        self.render()
        await self.session.restore()  # notifies: the sign-in screen or the first tab is drawn

    async def close(self) -> None:
        if self.push is not None:
            await self.push.stop()
        await self.client.aclose()

    def _on_session(self) -> None:
        me = self.session.me
        if me is not None and self._entered_as != me.id:
            self._enter()
        elif me is None and self._entered_as is not None:
            self._leave()
        self.render()

    def _enter(self) -> None:
        me = self.session.me
        assert me is not None
        self._entered_as, self.index = me.id, 0
        self.inbox = InboxState(client=self.client)
        self.firm = FirmOverviewState(client=self.client)
        self.firm.subscribe(lambda: self._changed(self.firm))
        self.tabs = self._tabs_for(me.role)
        shown = {id(st): st for tab in self.tabs for st in (tab.state, *tab.also)}
        for state in shown.values():
            state.subscribe(lambda st=state: self._changed(st))
        if id(self.inbox) not in shown:
            self.inbox.subscribe(lambda: self._changed(self.inbox))
        self.push = PushStream(client=self.client, on_event=self._pushed,
                               on_status=self.inbox.set_connected, on_connected=self.inbox.catch_up)
        self.push.start()
        self._load(self.tabs[0])

    def _leave(self) -> None:
        self._entered_as, self.tabs, self.index = None, [], 0
        if self.push is not None:
            self.run(self.push.stop())
        self.push, self.inbox, self.firm = None, None, None

    def _pushed(self, payload: Any) -> None:
        if self.inbox is None:
            return
        note = self.inbox.receive(payload)
        if note is None or not note.firm_uscc:
            return
        # news about a firm on a screen that shows it: refresh that screen quietly
        uscc = note.firm_uscc
        for state in {id(tab.state): tab.state for tab in self.tabs}.values():
            if isinstance(state, CreditState) and state.uscc == uscc:
                self.run(state.load() if note.kind == "grade" else state.load_warnings())
            elif isinstance(state, WatchlistState) and uscc in state.watched:
                self.run(state.refresh())
            elif isinstance(state, QueueState):
                self.run(state.refresh_firm(uscc))
        if self.firm is not None and self.firm.uscc == uscc:
            self.run(self.firm.refresh())

    def _tabs_for(self, role: str) -> list[Tab]:
        c, s, inbox, overview = self.client, self.session, self.inbox, self.firm
        assert inbox is not None and overview is not None
        run = self.run

        def open_firm(uscc: str) -> None:
            run(overview.open(uscc))
        if role == "owner":
            uscc = s.me.firm_uscc if s.me else None
            cs = CreditState(client=c, uscc=uscc)
            fs = FinancingState(client=c)
            ps = PoliciesState(client=c)
            prs = ProjectsState(client=c)
            ms = MeState(client=c, uscc=uscc)
            def dispute(record_id: int) -> None:  # a record behind a warning: to "Me", its form
                self.select(next(i for i, tb in enumerate(self.tabs) if tb.state is ms))
                run(ms.dispute(record_id))

            return [
                Tab("nav.credit", ft.Icons.VERIFIED_OUTLINED, ft.Icons.VERIFIED, cs,
                    lambda t: credit.build(cs, t, run, dispute=dispute)),
                Tab("nav.financing", ft.Icons.ACCOUNT_BALANCE_OUTLINED, ft.Icons.ACCOUNT_BALANCE, fs,
                    lambda t: financing.build(fs, t, run)),
                Tab("nav.policies", ft.Icons.ASSIGNMENT_OUTLINED, ft.Icons.ASSIGNMENT, ps,
                    lambda t: policies.build(ps, t, run, projects=prs), also=(prs,)),
                Tab("nav.messages", ft.Icons.NOTIFICATIONS_OUTLINED, ft.Icons.NOTIFICATIONS, inbox,
                    lambda t: messages.build(inbox, t, run), badge=lambda: inbox.unread),
                Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, ms,
                    lambda t: me.build(ms, s, t, run, on_linked=self._linked)),
            ]
        if role == "bank_manager":
            qs = QueueState(client=c)
            pf = PortfolioState(client=c)
            pr = ProspectsState(client=c)
            return [
                Tab("nav.alerts", ft.Icons.NOTIFICATION_IMPORTANT_OUTLINED, ft.Icons.NOTIFICATION_IMPORTANT,
                    inbox, lambda t: messages.build(inbox, t, run, alerts=True, open_firm=open_firm),
                    badge=lambda: inbox.unread),
                Tab("nav.applications", ft.Icons.INBOX_OUTLINED, ft.Icons.INBOX, qs,
                    lambda t: queue.build(qs, t, run), badge=lambda: len(qs.items)),
                Tab("nav.portfolio", ft.Icons.BUSINESS_CENTER_OUTLINED, ft.Icons.BUSINESS_CENTER, pf,
                    lambda t: portfolio.build(pf, t, run, open_firm=open_firm)),
                Tab("nav.prospects", ft.Icons.FILTER_ALT_OUTLINED, ft.Icons.FILTER_ALT, pr,
                    lambda t: prospects.build(pr, t, run, open_firm=open_firm)),
                Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, inbox,
                    lambda t: me.build_settings(s, t, run)),
            ]
        if role == "dept_operator":
            return self._operator_tabs()
        if role == "admin":
            return self._admin_tabs()
        if role == "analyst":
            return self._analyst_tabs()
        ws = WatchlistState(client=c)
        ss = SearchState(client=c)
        return [
            Tab("nav.watchlist", ft.Icons.STAR_OUTLINE, ft.Icons.STAR, ws,
                lambda t: watchlist.build(ws, t, run, open_firm=open_firm,
                                          find_firms=lambda: self.select(self._tab_index("nav.search")))),
            Tab("nav.search", ft.Icons.SEARCH, ft.Icons.SEARCH, ss,
                lambda t: search.build(ss, ws, t, run, open_firm=open_firm), also=(ws,)),
            Tab("nav.alerts", ft.Icons.NOTIFICATIONS_OUTLINED, ft.Icons.NOTIFICATIONS, inbox,
                lambda t: messages.build(inbox, t, run, alerts=True, open_firm=open_firm),
                badge=lambda: inbox.unread),
            Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, inbox,
                lambda t: me.build_settings(s, t, run)),
        ]

    def _operator_tabs(self) -> list[Tab]:
        """The department operator's back office: send feeds (with the batches), objections,
        policy applications, and the supported projects they opened."""
        c, s, run, inbox, files = self.client, self.session, self.run, self.inbox, self.files
        assert inbox is not None and files is not None
        up, bs = UploadState(client=c), BatchesState(client=c)
        oq, pq = ObjectionQueueState(client=c), PolicyQueueState(client=c)
        pp = ProjectPortfolioState(client=c)

        def policy_tab(t: Translator) -> ft.Control:
            """The applications to decide, or (switched) the supported projects they opened."""
            head = projects.switch(pp, t, pq.pending)
            if pp.shown:
                return projects.build_portfolio(pp, t, run, head=head)
            return office.build_policy_queue(pq, t, run, head=head)

        async def send() -> None:
            await files.send_feed(up)
            if up.report is not None:
                await bs.load()  # the new batch joins the list below the report

        return [
            Tab("nav.upload", ft.Icons.UPLOAD_FILE_OUTLINED, ft.Icons.UPLOAD_FILE, up,
                lambda t: office.build_feeds(up, bs, t, run, pick=lambda: run(send()), save=files.save),
                also=(bs,)),
            Tab("nav.objections", ft.Icons.GAVEL_OUTLINED, ft.Icons.GAVEL, oq,
                lambda t: office.build_objections(oq, t, run), badge=lambda: oq.open_count),
            Tab("nav.policy_queue", ft.Icons.ASSIGNMENT_OUTLINED, ft.Icons.ASSIGNMENT, pq, policy_tab,
                badge=lambda: pq.pending, also=(pp,)),
            Tab("nav.messages", ft.Icons.NOTIFICATIONS_OUTLINED, ft.Icons.NOTIFICATIONS, inbox,
                lambda t: messages.build(inbox, t, run), badge=lambda: inbox.unread),
            Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, inbox,
                lambda t: me.build_settings(s, t, run)),
        ]

    def _admin_tabs(self) -> list[Tab]:
        """The admin's back office: weight profiles, models, the fund, and 管理 (accounts, banks and
        their products, the audit log)."""
        c, s, run = self.client, self.session, self.run
        ws, ms, fs, ac = WeightsState(client=c), ModelsState(client=c), FundState(client=c), AccountsState(client=c)
        mg, bs, au = ManageState(), BanksState(client=c), AuditState(client=c)
        fh = FeedHealthState(client=c)
        return [
            Tab("nav.weights", ft.Icons.TUNE_OUTLINED, ft.Icons.TUNE, ws, lambda t: admin.build_weights(ws, t, run)),
            Tab("nav.models", ft.Icons.INSIGHTS_OUTLINED, ft.Icons.INSIGHTS, ms, lambda t: admin.build_models(ms, t, run)),
            Tab("nav.fund", ft.Icons.SAVINGS_OUTLINED, ft.Icons.SAVINGS, fs, lambda t: admin.build_fund(fs, t, run)),
            Tab("nav.manage", ft.Icons.ADMIN_PANEL_SETTINGS_OUTLINED, ft.Icons.ADMIN_PANEL_SETTINGS, mg,
                lambda t: manage.build_manage(mg, ac, bs, au, t, run, health=fh), also=(ac, bs, au, fh)),
            Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, self.inbox,  # type: ignore[arg-type]
                lambda t: me.build_settings(s, t, run)),
        ]

    def _analyst_tabs(self) -> list[Tab]:
        """The region's view for the finance and credit offices: the credit index and its drill,
        the thematic analyses, the annual reports. Aggregates only."""
        c, s, run, files = self.client, self.session, self.run, self.files
        assert files is not None
        ix, th, rp = IndexState(client=c), ThematicState(client=c), ReportsState(client=c)

        def home(t: Translator) -> ft.Control:
            mix = None if ix.mix is None else card(section(t("region.grade_mix")),
                                                   thematic.grade_mix(t, ix.mix.grades, key="index.mix.chart"),
                                                   key="index.mix")
            return region.build_index(ix, t, run, extra=[mix])

        return [
            Tab("nav.index", ft.Icons.SHOW_CHART, ft.Icons.SHOW_CHART, ix, home),
            Tab("nav.thematic", ft.Icons.INSIGHTS_OUTLINED, ft.Icons.INSIGHTS, th,
                lambda t: thematic.build_thematic(th, t, run)),
            Tab("nav.reports", ft.Icons.DESCRIPTION_OUTLINED, ft.Icons.DESCRIPTION, rp,
                lambda t: region.build_reports(rp, t, run, files.save)),
            Tab("nav.me", ft.Icons.PERSON_OUTLINE, ft.Icons.PERSON, self.inbox,  # type: ignore[arg-type]
                lambda t: me.build_settings(s, t, run)),
        ]

    def _linked(self, uscc: str) -> None:
        """The owner just proved their firm: reload the session and the firm's screens."""
        async def relink() -> None:
            await self.session.refresh_me()
            for tab in self.tabs:
                if isinstance(tab.state, CreditState | MeState):
                    tab.state.uscc = uscc
                    await tab.state.load()

        self.run(relink())

    def _load(self, tab: Tab) -> None:
        for state in (tab.state, *tab.also):
            if state.status in ("idle", "error") and hasattr(state, "load"):
                self.run(state.load())  # type: ignore[attr-defined]

    def _tab_index(self, key: str) -> int:
        return next(i for i, tab in enumerate(self.tabs) if tab.key == key)

    def select(self, index: int) -> None:
        if 0 <= index < len(self.tabs):
            leaving = self.tabs[self.index].state
            # Tapping a tab shows its first screen: a half-done objection does not wait behind
            # another tab, and tapping the current tab again goes back to its top.
            if isinstance(leaving, MeState):
                leaving.close_records()
            elif isinstance(leaving, QueueState | ObjectionQueueState) and index == self.index:
                leaving.close()
            elif isinstance(leaving, WeightsState) and index == self.index:
                leaving.cancel()
            if self.firm is not None:
                self.firm.close(quiet=True)  # a tab tapped shows that tab, not the firm over it
            self.index = index
            self._load(self.tabs[index])
            self.render()

    # -- drawing -------------------------------------------------------------------------------

    def _resized(self, _: Any) -> None:
        """Redraw only when the width changes the layout: a phone's keyboard opening changes the
        height, and redrawing then would replace the text field being typed in."""
        if self._side() != self._drawn_side:
            self.render()

    def _side(self) -> int:
        """The screen's side margin: on a wide screen (a desktop's back office) the cards keep a
        readable width, centred."""
        width = self.page.width or 0
        return max(12, int((width - MAX_CONTENT_WIDTH) / 2)) if width > MAX_CONTENT_WIDTH + 24 else 12

    def _changed(self, state: Loadable | None) -> None:
        """A state changed: redraw its screen if it is showing, else only badges and banners.

        Redrawing a screen replaces its text fields; doing it only when that screen's own
        state changed keeps a push from wiping what someone is typing elsewhere."""
        if not self.session.signed_in or not self.tabs:
            return  # a state of a session that has ended (the sign-in screen is drawn by session)
        tab = self.tabs[self.index]
        if state is tab.state or any(state is s for s in tab.also) or (state is self.firm and state is not None):
            self.render()
        else:
            self.render(chrome_only=True)

    def render(self, *, chrome_only: bool = False) -> None:
        """Rebuild the current screen from the states (cheap: a few dozen controls)."""
        if self._rendering:
            return
        self._rendering = True
        try:
            if chrome_only and self.tabs and self.session.signed_in and self._chrome is not None:
                self._render_chrome(self.session.t)
            else:
                self._render()
        finally:
            self._rendering = False
        try:
            self.page.update()
        except Exception:  # the page is gone (browser tab closed)
            pass

    def _render(self) -> None:
        page, session = self.page, self.session
        log.debug("render: signed_in=%s tab=%s", session.signed_in, self.index)
        t = session.t
        if session.signed_in and self.client.tokens is None:
            session.me, session.error = None, "auth.session_ended"  # tokens refused for good
            self._leave()
        if not session.signed_in:
            page.navigation_bar, self._chrome = None, None
            page.controls = [ft.SafeArea(login.build(session, self.run), expand=True)] \
                if not session.restoring else [ft.Container(expand=True)]
            return
        if not self.tabs:
            self._enter()
        tab = self.tabs[self.index]
        side = self._drawn_side = self._side()
        self._chrome = ft.Container()
        page.controls = [ft.SafeArea(ft.Column([
            self._header(t, tab),
            self._chrome,
            ft.Container(firm.build(self.firm, t, self.run) if self.firm is not None and self.firm.is_open
                         else tab.build(t), padding=ft.Padding.only(left=side, right=side, top=4), expand=True),
        ], spacing=0, expand=True), expand=True)]
        self._render_chrome(t)

    def _render_chrome(self, t: Translator) -> None:
        """The bottom navigation (with unread badges) and the connection banner.

        The navigation bar is updated in place: a push that changes a badge must not replace
        the bar a finger may be on (a replaced tab loses the tap)."""
        fresh = [self._destination(t, tb) for tb in self.tabs]
        nav = self.page.navigation_bar
        if isinstance(nav, ft.NavigationBar) and len(nav.destinations) == len(fresh):
            nav.selected_index = self.index
            for now, new in zip(nav.destinations, fresh, strict=True):
                now.label, now.icon, now.selected_icon = new.label, new.icon, new.selected_icon
        else:
            self.page.navigation_bar = ft.NavigationBar(
                key="nav", selected_index=self.index, bgcolor=ft.Colors.WHITE, indicator_color="#DCE6F7",
                on_change=lambda e: self.select(e.control.selected_index), destinations=fresh,
            )
        if self._chrome is not None:
            self._chrome.content = self._connection_banner(t)

    def _destination(self, t: Translator, tab: Tab) -> ft.NavigationBarDestination:
        count = tab.badge() if tab.badge else 0
        icon: ft.IconData | ft.Control = tab.icon
        selected: ft.IconData | ft.Control = tab.selected_icon
        if count:
            label = str(count) if count < 100 else "99+"
            icon = ft.Icon(tab.icon, badge=ft.Badge(label=label))
            selected = ft.Icon(tab.selected_icon, badge=ft.Badge(label=label))
        return ft.NavigationBarDestination(icon=icon, selected_icon=selected, label=t(tab.key))

    def _header(self, t: Translator, tab: Tab) -> ft.Control:
        other = "en" if self.session.lang == "zh" else "zh"
        return ft.Container(
            bgcolor=PRIMARY, padding=ft.Padding.only(left=16, right=4, top=10, bottom=10),
            content=ft.Row([
                ft.Text(t(tab.key), key="header.title", size=20, weight=ft.FontWeight.W_600,
                        color=ft.Colors.WHITE, expand=True),
                ft.TextButton(t(f"lang.{other}"), key="header.lang", icon=ft.Icons.TRANSLATE,
                              style=ft.ButtonStyle(color=ft.Colors.WHITE),
                              on_click=lambda _: self.run(self.session.set_lang(other))),
            ]),
        )

    def _connection_banner(self, t: Translator) -> ft.Control | None:
        inbox = self.inbox
        offline = inbox is not None and inbox.was_connected and not inbox.connected
        current = self.tabs[self.index].state if self.tabs else None
        if current is not None and current.error_kind == "offline":
            offline = True
        if not offline:
            return None
        return ft.Container(
            key="banner.offline", bgcolor="#FFF4E5", padding=ft.Padding.symmetric(horizontal=16, vertical=8),
            content=ft.Row([ft.Icon(ft.Icons.WIFI_OFF, color="#B26A00", size=18),
                            ft.Text(t("common.offline"), color="#B26A00", size=13)]),
        )

