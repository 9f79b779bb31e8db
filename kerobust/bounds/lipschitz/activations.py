"""Activation constants: A = sup |g'| (the Lipschitz constant) and B = sup |g''| (docs/bounds.md section 2.2,
Peck 2017 Table 4.1), and g' for the thesis's Jacobians.

Thesis values: ReLU's B is set to 1 (the thesis's choice; the true value is 0 and ReLU is not C^2, docs/bounds.md
section 8, E2) and tanh's B is 4 / (3 sqrt 3), twice Table 4.1's value (which is the sup of tanh'' without its
factor 2).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import keras
from keras import ops

from kerobust.errors import KerobustError
from kerobust.types import Tensor

# name: (A, B); only A matters in sound mode.
CONSTANTS = {
    "linear": (1.0, 0.0),
    "relu": (1.0, 1.0),
    "sigmoid": (0.25, 1 / (6 * math.sqrt(3))),
    "tanh": (1.0, 4 / (3 * math.sqrt(3))),
    "softplus": (1.0, 0.25),
}
# Lipschitz constants of activations without thesis constants (sound mode only).
LIPSCHITZ_ONLY = {"relu6": 1.0, "elu": 1.0, "leaky_relu": 1.0, "softsign": 1.0, "gelu": 1.1289, "silu": 1.0999,
                  "swish": 1.0999, "hard_sigmoid": 1 / 6, "hard_silu": 1.5, "hard_swish": 1.5}


def activation_name(activation: Callable[..., Any] | None) -> str:
    """The registered name of a Keras activation function (None means linear)."""
    if activation is None:
        return "linear"
    name = keras.activations.serialize(activation)
    return name if isinstance(name, str) else name.get("config", name.get("class_name"))


def lipschitz(name: str) -> float:
    """sup |g'| of a named activation (raises for unknown ones)."""
    if name in CONSTANTS:
        return CONSTANTS[name][0]
    if name in LIPSCHITZ_ONLY:
        return LIPSCHITZ_ONLY[name]
    raise KerobustError(f"no Lipschitz constant known for activation {name!r}.")


def thesis_constants(name: str) -> tuple[float, float]:
    """(A, B) of Table 4.1 for the thesis's dense-block rule."""
    if name not in CONSTANTS:
        raise KerobustError(f"the thesis's dense-block rule has no constants for activation {name!r}; "
                            f"known: {', '.join(CONSTANTS)}.")
    return CONSTANTS[name]


def derivative(name: str, pre_activation: Tensor) -> Tensor:
    """g'(z) elementwise (ReLU'(0) = 0, as the thesis)."""
    z = pre_activation
    if name == "linear":
        return ops.ones_like(z)
    if name == "relu":
        return ops.cast(z > 0, z.dtype)
    if name == "sigmoid":
        s = ops.sigmoid(z)
        return s * (1 - s)
    if name == "tanh":
        return 1 - ops.square(ops.tanh(z))
    if name == "softplus":
        return ops.sigmoid(z)
    raise KerobustError(f"no derivative known for activation {name!r}.")
