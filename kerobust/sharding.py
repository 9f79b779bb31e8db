"""Which devices share each batch of points during evaluation: the `Distribution` of the enclosing
`sharding_points(distribution)` block (a context variable, so each thread or task sees its own), read by the
backend's compiled per-point functions when they run. Outside such a block, or with one replica, nothing is sharded.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kerobust.distribution import Distribution

_CURRENT: contextvars.ContextVar[Distribution | None] = contextvars.ContextVar("kerobust_point_sharding", default=None)


@contextlib.contextmanager
def sharding_points(distribution: Distribution) -> Iterator[None]:
    """Within: kerobust's compiled per-point functions split each batch over `distribution`'s replicas (and models
    built here get the strategy's mirrored variables on TensorFlow); outside, or with one replica, nothing changes."""
    token = _CURRENT.set(distribution if distribution.replicas > 1 else None)
    try:
        with distribution.scope():
            yield
    finally:
        _CURRENT.reset(token)


def point_sharding() -> Distribution | None:
    """The `Distribution` of the enclosing `sharding_points` (None outside one, or with one replica)."""
    return _CURRENT.get()
