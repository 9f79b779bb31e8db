"""Which devices share each batch of points during evaluation: the `Distribution` of the enclosing
`sharding_points(distribution)` block (a context variable, so each thread or task sees its own), read by the
backend's compiled per-point functions when they run. Outside such a block, or with one replica, nothing is sharded.
"""

import contextlib
import contextvars

_CURRENT: contextvars.ContextVar = contextvars.ContextVar("kerobust_point_sharding", default=None)


@contextlib.contextmanager
def sharding_points(distribution):
    """Within: kerobust's compiled per-point functions split each batch over `distribution`'s replicas (and models
    built here get the strategy's mirrored variables on TensorFlow); outside, or with one replica, nothing changes."""
    token = _CURRENT.set(distribution if distribution.replicas > 1 else None)
    try:
        with distribution.scope():
            yield
    finally:
        _CURRENT.reset(token)


def point_sharding():
    """The `Distribution` of the enclosing `sharding_points` (None outside one, or with one replica)."""
    return _CURRENT.get()
