"""Radii that leave something to certify or attack: a ball around a point of the [0, 1]^d input box that holds the
whole box makes every point non-robust, so such a radius is a mistake (l-inf: 1 or more; l2: the box's diameter
sqrt(d) or more)."""

from __future__ import annotations

import math

from kerobust.errors import KerobustError


def covering_radius(norm: str, input_size: int | None = None) -> float | None:
    """The smallest radius whose ball around any point holds the whole box (None for l2 without the input size)."""
    if norm == "linf":
        return 1.0
    return math.sqrt(input_size) if input_size else None


def check_radius(what: str, eps: float | None, norm: str, input_size: int | None = None) -> None:
    """A one-line error for `eps` (named `what`) at or beyond `covering_radius`."""
    limit = covering_radius(norm, input_size)
    if eps is None or limit is None or eps < limit:
        return
    if norm == "linf":
        raise KerobustError(f"{what} {eps:g} is an l-inf radius of 1 or more: the ball covers the whole [0, 1] input "
                            "box, so no point can be robust.")
    raise KerobustError(f"{what} {eps:g} is an l2 radius of at least the input box's diameter sqrt({input_size}) = "
                        f"{limit:.4g}: the ball covers the whole [0, 1] box, so no point can be robust.")
