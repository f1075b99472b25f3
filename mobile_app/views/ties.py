"""担保关系图 The guarantee circle as a picture (as 信用上虞 draws it): the firm as the mother
cell in the middle, the firms and people tied to it as child cells around it, each coloured by
its warning level, the guarantees as lines with their amounts, and the path the latest
contagion warning travelled drawn in red. Below the picture the same facts as a list, which
is also what a screen reader reads."""

from __future__ import annotations

import math

import flet as ft
import flet.canvas as cv

from mobile_app.api.models import FirmTies, TieFirm
from mobile_app.i18n import Translator
from mobile_app.views.common import FONT_FAMILY, LEVEL_COLORS, MUTED, PRIMARY, card, pill, section

__all__ = ["SIZE", "layout", "ties_card"]

SIZE = 320  # px: the picture is square and fits a 360 px phone
MOTHER_R, CHILD_R, PERSON_R = 30, 17, 11
RING1, RING2 = 98, 142
CALM = "#1B9E5A"  # a firm without open warnings
PERSON = "#7E57C2"
EDGE = "#9AA4B2"
PATH = "#D93025"


def _short(name: str, n: int = 6) -> str:
    for suffix in ("有限责任公司", "股份有限公司", "有限公司", "公司"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
            break
    return name if len(name) <= n else name[: n - 1] + "…"


def _wan(t: Translator, yuan: int) -> str:
    """An amount as people read it on a picture: 500万 / ¥5.0m."""
    if t.zh:
        return f"{yuan / 10_000:,.0f}万" if yuan >= 10_000 else f"{yuan:,}元"
    return f"¥{yuan / 1_000_000:,.1f}m" if yuan >= 100_000 else f"¥{yuan:,}"


def layout(ties: FirmTies) -> dict[str, tuple[float, float]]:
    """Where each cell sits: the mother in the middle, one-hop firms and people on the inner
    ring, two-hop firms on the outer ring next to the partner they are reached through."""
    c = SIZE / 2
    pos: dict[str, tuple[float, float]] = {ties.firm.uscc: (c, c)}
    inner = [f.uscc for f in ties.firms if f.hops <= 1] + [f"person:{p.key}" for p in ties.people]
    for i, key in enumerate(inner):
        a = -math.pi / 2 + 2 * math.pi * i / max(1, len(inner))
        pos[key] = (c + RING1 * math.cos(a), c + RING1 * math.sin(a))
    neighbours: dict[str, list[str]] = {}
    for e in ties.edges:
        neighbours.setdefault(e.guarantor, []).append(e.guaranteed)
        neighbours.setdefault(e.guaranteed, []).append(e.guarantor)
    outer = [f for f in ties.firms if f.hops >= 2]
    placed: dict[str, int] = {}
    for n, f in enumerate(outer):
        via = next((v for v in neighbours.get(f.uscc, []) if v in pos and v != ties.firm.uscc), None)
        if via is None:  # reached through a person, or not drawn: spread evenly
            a = -math.pi / 2 + 2 * math.pi * (n + 0.5) / max(1, len(outer))
        else:
            vx, vy = pos[via]
            k = placed.get(via, 0)
            placed[via] = k + 1
            a = math.atan2(vy - c, vx - c) + (0.28 * ((k + 1) // 2) * (1 if k % 2 else -1) if k else 0)
        pos[f.uscc] = (c + RING2 * math.cos(a), c + RING2 * math.sin(a))
    return pos


def _colour(f: TieFirm) -> str:
    return LEVEL_COLORS.get(f.level or "", CALM)


def _picture(t: Translator, ties: FirmTies) -> ft.Control:
    pos = layout(ties)
    on_path: set[frozenset[str]] = set()
    if ties.path is not None:
        u = ties.path.usccs
        on_path = {frozenset((u[k], u[k + 1])) for k in range(len(u) - 1)}
    shapes: list[cv.Shape] = []
    labels: list[cv.Shape] = []
    for e in ties.edges:
        if e.guarantor not in pos or e.guaranteed not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e.guarantor], pos[e.guaranteed]
        hot = frozenset((e.guarantor, e.guaranteed)) in on_path
        shapes.append(cv.Line(x1, y1, x2, y2, paint=ft.Paint(color=PATH if hot else EDGE,
                                                              stroke_width=3 if hot else 1.5)))
        length = math.dist((x1, y1), (x2, y2)) or 1.0
        nx, ny = (y1 - y2) / length * 9, (x2 - x1) / length * 9  # beside the line, not on it
        labels.append(cv.Text((x1 + x2) / 2 + nx, (y1 + y2) / 2 + ny, _wan(t, e.amount_yuan),
                              style=ft.TextStyle(size=9, color=PATH if hot else MUTED, font_family=FONT_FAMILY),
                              alignment=ft.Alignment.CENTER))
    people = {f"person:{p.key}": p for p in ties.people}
    for key, p in people.items():
        px, py = pos[key]
        mx, my = pos[ties.firm.uscc]
        shapes.append(cv.Line(px, py, mx, my, paint=ft.Paint(color=PERSON, stroke_width=1,
                                                              stroke_dash_pattern=[4, 3])))
        for other in p.firms:
            if other in pos:
                ox, oy = pos[other]
                shapes.append(cv.Line(px, py, ox, oy, paint=ft.Paint(color=PERSON, stroke_width=1,
                                                                      stroke_dash_pattern=[4, 3])))
    for f in [ties.firm, *ties.firms]:
        if f.uscc not in pos:
            continue
        x, y = pos[f.uscc]
        r = MOTHER_R if f.hops == 0 else CHILD_R
        shapes.append(cv.Circle(x, y, r, paint=ft.Paint(color=_colour(f))))
        if f.hops == 0:
            shapes.append(cv.Circle(x, y, r + 4, paint=ft.Paint(color=PRIMARY, style=ft.PaintingStyle.STROKE,
                                                                   stroke_width=2)))
        labels.append(cv.Text(x, y + r + 8, _short(f.name, 8 if f.hops == 0 else 6),
                              style=ft.TextStyle(size=10 if f.hops else 11, font_family=FONT_FAMILY,
                                                 weight=ft.FontWeight.W_600 if f.hops == 0 else None),
                              alignment=ft.Alignment.CENTER))
    for key, p in people.items():
        x, y = pos[key]
        shapes.append(cv.Circle(x, y, PERSON_R, paint=ft.Paint(color=PERSON)))
        labels.append(cv.Text(x, y + PERSON_R + 7, p.name, style=ft.TextStyle(size=10, color=PERSON, font_family=FONT_FAMILY),
                              alignment=ft.Alignment.CENTER))
    summary = t("ties.picture", firms=len(ties.firms), people=len(ties.people))
    return ft.Container(
        alignment=ft.Alignment.CENTER,
        content=ft.Semantics(label=summary, content=cv.Canvas(shapes + labels, width=SIZE, height=SIZE,
                                                              key="ties.canvas")))


def _legend(t: Translator) -> ft.Control:
    def dot(color: str, label: str) -> ft.Control:
        return ft.Row([ft.Container(width=10, height=10, border_radius=5, bgcolor=color),
                       ft.Text(label, size=11, color=MUTED)], spacing=4, tight=True)

    return ft.Row([dot(CALM, t("ties.calm")), dot(LEVEL_COLORS["blue"], t("warning.blue")),
                   dot(LEVEL_COLORS["yellow"], t("warning.yellow")), dot(LEVEL_COLORS["red"], t("warning.red")),
                   dot(PERSON, t("ties.person"))], wrap=True, spacing=10, run_spacing=4)


def ties_card(t: Translator, ties: FirmTies, *, key: str = "ties") -> ft.Control:
    items: list[ft.Control] = [section(t("ties.title"), key=f"{key}.title")]
    if not ties.firms and not ties.people:
        items.append(ft.Text(t("ties.none"), color=MUTED, key=f"{key}.none"))
        return card(*items, key=key)
    items += [_picture(t, ties), _legend(t)]
    if ties.path is not None:
        p = ties.path
        items.append(ft.Container(
            key=f"{key}.path", bgcolor="#FDECEA", border_radius=8, padding=8,
            content=ft.Text(t("ties.path", source=p.source_name, path=" → ".join(p.names)), size=13,
                            color="#B3261E")))
    for i, f in enumerate(ties.firms):
        amounts = []
        if f.gives_yuan:
            amounts.append(t("ties.gives", amount=_wan(t, f.gives_yuan)))
        if f.receives_yuan:
            amounts.append(t("ties.receives", amount=_wan(t, f.receives_yuan)))
        relation = t(f"ties.relation.{f.relation}") if f"ties.relation.{f.relation}" in t else f.relation
        items.append(ft.Row([
            ft.Container(width=10, height=10, border_radius=5, bgcolor=_colour(f)),
            ft.Text(f.name, size=13, expand=True, max_lines=1, overflow=ft.TextOverflow.ELLIPSIS),
            ft.Text(" · ".join([relation, *amounts]), size=12, color=MUTED),
        ], key=f"{key}.firm.{i}", spacing=6))
    for i, p in enumerate(ties.people):
        roles = "、".join(t(f"ties.role.{r}") if f"ties.role.{r}" in t else r for r in p.roles)
        items.append(ft.Row([
            ft.Container(width=10, height=10, border_radius=5, bgcolor=PERSON),
            ft.Text(t("ties.person_line", name=p.name, roles=roles, n=len(p.firms)), size=13, expand=True),
        ], key=f"{key}.person.{i}", spacing=6))
    if ties.hidden:
        items.append(pill(t("ties.hidden", n=ties.hidden), MUTED))
    return card(*items, key=key, spacing=8)
