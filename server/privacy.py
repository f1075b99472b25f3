"""Small-group suppression: the one rule every statistic about other firms goes through.

A figure about a group of firms (a mean score, a share of C/D grades, a circle's guaranteed
amount) is published only if the group holds at least ``k`` firms *besides the viewer*: a firm
that knows its own value subtracts it from a group total, so a group of ``k`` that includes the
reader hides only ``k - 1`` others. When the narrowest group is too small, the figure falls back
to a wider one (division -> section -> region) and says which group it used.

Groups published to many readers at once (stored statistics, the macro index) must also resist
*differencing*: if a parent's total and all but one of its children are published, the missing
child is their difference. :func:`publishable` therefore chooses, top-down, a set of groups in
which every parent's remainder (the parent minus its published children) is empty or itself
large enough. Figures are sums over firms (counts x means), so a reader can derive only unions
of these disjoint remainders, each of which is empty or meets the rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Group", "min_firms", "narrowest", "publishable"]

#: Fallback order of the industry hierarchy, narrowest first.
LEVELS = ("division", "section", "region")


@dataclass(frozen=True, slots=True)
class Group:
    """A group of firms: its level (``division``/``section``/``region``, or a macro
    dimension), its code, how many firms it holds and the code of the group enclosing it."""

    level: str
    code: str
    firms: int
    parent: str | None = None


def min_firms(k: int, *, viewer_in_group: bool = True) -> int:
    """Firms a group needs so that ``k`` of them are not the viewer."""
    if k < 1:
        raise ValueError("k: must be at least 1")
    return k + 1 if viewer_in_group else k


def narrowest(chain: Sequence[Group], k: int, *, viewer_in_group: bool = True,
              allowed: Container[str] | None = None) -> Group | None:
    """The first group of ``chain`` (narrowest first) with at least ``k`` firms besides the
    viewer and, if ``allowed`` is given, among the codes it holds; None when none qualifies
    (then nothing may be published).

    ``viewer_in_group`` says whether the viewer's own firm (or a firm whose figures the viewer
    already knows, such as the evaluated firm) belongs to the groups of the chain.
    """
    need = min_firms(k, viewer_in_group=viewer_in_group)
    for group in chain:
        if group.firms >= need and (allowed is None or group.code in allowed):
            return group
    return None


def publishable(groups: Iterable[Group], k: int, *, viewer_in_group: bool = True) -> frozenset[str]:
    """Codes of the groups that may be published together to any reader.

    A group is published only if it is large enough (``min_firms``), its parent is published,
    and its parent's remainder after all published children is empty or large enough; when a
    remainder would be too small, the smallest children are withheld until it is not. Readers
    may belong to any group, so by default every group must hold ``k`` firms besides one.
    """
    need = min_firms(k, viewer_in_group=viewer_in_group)
    by_code: dict[str, Group] = {}
    children: dict[str | None, list[Group]] = defaultdict(list)
    for g in groups:
        if g.firms < 0:
            raise ValueError(f"firms: negative count for group {g.code!r}")
        if g.code in by_code:
            raise ValueError(f"code: group {g.code!r} given twice")
        by_code[g.code] = g
        children[g.parent].append(g)
    unknown = sorted(g.code for g in by_code.values() if g.parent is not None and g.parent not in by_code)
    if unknown:  # without its parent's count a child's complement cannot be protected
        raise ValueError(f"parent: groups {unknown[:5]} name a parent that is not given")
    for code, kids in children.items():
        if code is not None and sum(c.firms for c in kids) > by_code[code].firms:
            raise ValueError(f"firms: the groups inside {code!r} hold more firms than it")
    roots = children.get(None, [])
    out: set[str] = set()

    def visit(group: Group) -> None:
        out.add(group.code)
        kids = children.get(group.code, [])
        # Smallest first, so withholding one to protect the remainder costs the least detail.
        kept = sorted((c for c in kids if c.firms >= need), key=lambda c: (c.firms, c.code))
        remainder = group.firms - sum(c.firms for c in kept)
        while kept and 0 < remainder < need:
            remainder += kept.pop(0).firms
        for c in kept:
            visit(c)

    for root in roots:
        if root.firms >= need:
            visit(root)
    return frozenset(out)
