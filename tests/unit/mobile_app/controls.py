"""Reading a Flet control tree in tests: every control, one by its key, all keys, all texts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def walk(control: Any) -> Iterator[Any]:
    """Every control in a tree (fields holding controls or lists of them)."""
    import dataclasses

    from flet.controls.base_control import BaseControl

    seen: set[int] = set()
    stack = [control]
    while stack:
        c = stack.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        yield c
        for f in dataclasses.fields(c):
            if f.name.startswith("_") or f.name == "parent":
                continue
            value = getattr(c, f.name, None)
            items = value if isinstance(value, list) else [value]
            stack.extend(v for v in items if isinstance(v, BaseControl))


def find(control: Any, key: str) -> Any:
    """The control with this ``key`` (exactly one), else an AssertionError listing the keys."""
    found = [c for c in walk(control) if getattr(c, "key", None) == key]
    keys = sorted({str(c.key) for c in walk(control) if getattr(c, "key", None)})
    assert len(found) == 1, f"{key!r}: found {len(found)} in {keys}"
    return found[0]


def keys(control: Any) -> set[str]:
    return {str(c.key) for c in walk(control) if getattr(c, "key", None)}


def texts(control: Any) -> list[str]:
    import flet as ft

    return [c.value for c in walk(control) if isinstance(c, ft.Text) and c.value]
