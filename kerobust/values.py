"""Parsing of numeric values given on the command line or in YAML (fractions such as 8/255 allowed)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, TypeVar, overload

from kerobust.errors import KerobustError

T = TypeVar("T")


def number(text: object) -> float:
    """A float from `0.03`, `8/255` or a YAML number; rejects NaN and infinities."""
    if isinstance(text, bool):
        raise ValueError(f"not a number: {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        text = str(text).strip()
        try:
            value = float(Fraction(text)) if "/" in text else float(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def whole(text: object) -> int:
    """An int from `5` or `"5"` (not `5.5`)."""
    if isinstance(text, bool):
        raise ValueError(f"not a whole number: {text!r}")
    value = number(text)
    if value != int(value):
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)


def boolean(text: object) -> bool:
    """A bool from `true` / `false` / `yes` / `no` / `1` / `0` or a YAML boolean."""
    if isinstance(text, bool):
        return text
    words = {"true": True, "yes": True, "1": True, "on": True, "false": False, "no": False, "0": False, "off": False}
    key = str(text).strip().lower()
    if key not in words:
        raise ValueError(f"not true or false: {text!r}")
    return words[key]


def whole_list(text: object) -> list[int]:
    """A list of ints from `10,20`, `[10, 20]` or `20`."""
    if isinstance(text, (list, tuple)):
        return [whole(v) for v in text]
    return [whole(v) for v in str(text).replace(" ", "").strip("[]").split(",") if v]


def number_list(text: object) -> list[float]:
    """A list of floats from `0.1,8/255`."""
    return [number(v) for v in str(text).replace(" ", "").strip("[]").split(",") if v]


@overload
def convert(key: str, value: None, kind: Callable[[Any], T]) -> None: ...


@overload
def convert(key: str, value: str | float | Sequence[Any], kind: Callable[[Any], T]) -> T: ...


@overload
def convert(key: str, value: object, kind: Callable[[Any], T]) -> T | None: ...


def convert(key: str, value: object, kind: Callable[[Any], T]) -> T | None:
    """Converts `value` for config `key` with converter `kind`, raising a one-line `KerobustError`."""
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError) as error:
        raise KerobustError(f"{key}: {error}") from None
