"""The guarantee circle picture: every cell inside the picture and apart from the others, the
contagion path drawn in red, and the same facts listed in words for screen readers."""

from __future__ import annotations

import math

import flet.canvas as cv

from mobile_app.api.models import ContagionPath, FirmTies, TieEdge, TieFirm, TiePerson
from mobile_app.i18n import Translator
from mobile_app.views.common import FONT_FAMILY
from mobile_app.views.ties import PATH, SIZE, layout, ties_card
from tests.unit.mobile_app.controls import find, keys, texts, walk

ZH, EN = Translator("zh"), Translator("en")


def _ties(n_inner: int = 5) -> FirmTies:
    mother = TieFirm(uscc="M", name="青溪鑫泰精工机械有限公司", hops=0, relation="self", level="yellow")
    firms = [TieFirm(uscc=f"F{i}", name=f"青溪第{i}号制造有限公司", hops=1, relation="guarantor",
                     gives_yuan=1_000_000 * (i + 1), level="red" if i == 0 else None) for i in range(n_inner)]
    firms += [TieFirm(uscc="C1", name="城关远方贸易有限公司", hops=2, relation="chain"),
              TieFirm(uscc="C2", name="城关近邻物流有限公司", hops=2, relation="chain")]
    edges = [TieEdge(guarantor=f.uscc, guaranteed="M", amount_yuan=f.gives_yuan) for f in firms if f.hops == 1]
    edges += [TieEdge(guarantor="C1", guaranteed="F0", amount_yuan=500_000),
              TieEdge(guarantor="C2", guaranteed="F0", amount_yuan=300_000)]
    return FirmTies(as_of="2026-12-01", firm=mother, firms=firms, edges=edges,
                    people=[TiePerson(key="p1", name="张*", roles=["legal_rep"], firms=["F1"])],
                    path=ContagionPath(warning_id=7, level="yellow", source_uscc="F0", source_name=firms[0].name,
                                       usccs=["F0", "M"], names=[firms[0].name, mother.name],
                                       amounts_yuan=[1_000_000]))


def test_cells_sit_inside_the_picture_and_apart() -> None:
    for n in (1, 5, 12):
        pos = layout(_ties(n))
        assert len(pos) == n + 2 + 1 + 1  # inner firms, two chain firms, the person, the mother
        for x, y in pos.values():
            assert 0 < x < SIZE and 0 < y < SIZE
        points = list(pos.values())
        closest = min(math.dist(a, b) for i, a in enumerate(points) for b in points[i + 1:])
        assert closest > 20, (n, closest)


def test_the_card_draws_the_path_in_red_and_lists_every_tie() -> None:
    ties = _ties()
    view = ties_card(ZH, ties, key="credit.ties")
    canvas = find(view, "ties.canvas")
    red = [s for s in canvas.shapes if isinstance(s, cv.Line) and s.paint.color == PATH]
    assert len(red) == 1  # the one guarantee the contagion travelled
    words_drawn = [s for s in canvas.shapes if isinstance(s, cv.Text)]
    assert words_drawn and all(s.style.font_family == FONT_FAMILY for s in words_drawn)  # else: boxes
    assert {"credit.ties.path", "credit.ties.firm.0", "credit.ties.person.0"} <= keys(view)
    words = texts(view)
    assert any("风险传导路径" in x for x in words) and any("为本企业担保 100万" in x for x in words)
    assert any(x.startswith("张*（法定代表人）") for x in words)
    assert any("guarantees us ¥1.0m" in x for x in texts(ties_card(EN, ties)))
    labels = [c.label for c in walk(view) if getattr(c, "label", None)]
    assert any("7 家企业" in str(x) for x in labels)  # the picture's own label, for screen readers


def test_a_firm_without_ties_says_so() -> None:
    alone = FirmTies(as_of="2026-12-01", firm=TieFirm(uscc="M", name="独立公司", hops=0, relation="self"))
    view = ties_card(EN, alone)
    assert "ties.none" in keys(view) and "ties.canvas" not in keys(view)
