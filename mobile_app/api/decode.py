"""Turn the API's JSON into the app's dataclasses, tolerating new fields the server may add."""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

__all__ = ["DecodeError", "decode"]

T = TypeVar("T")


class DecodeError(ValueError):
    """The server sent something the app cannot read (a missing field or a wrong type)."""


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise DecodeError(f"{where}: null where a value was expected")
        last: DecodeError | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except DecodeError as exc:
                last = exc
        raise last or DecodeError(f"{where}: cannot read {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise DecodeError(f"{where}: expected a list")
        (item,) = get_args(tp) or (Any,)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise DecodeError(f"{where}: expected an object")
        _, val = get_args(tp) or (str, Any)
        return {str(k): _convert(val, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return decode(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"{where}: expected a number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"{where}: expected an integer")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise DecodeError(f"{where}: expected {tp.__name__}")
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise DecodeError(f"{where}: expected an object")
        return value
    return value


def decode(cls: type[T], data: Any, where: str = "") -> T:
    """Build ``cls`` (a dataclass) from a JSON object; unknown keys are ignored."""
    name = where or cls.__name__
    if not isinstance(data, dict):
        raise DecodeError(f"{name}: expected an object")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{name}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DecodeError(f"{name}.{f.name}: missing")
    return cls(**kwargs)
