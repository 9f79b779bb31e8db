"""The nodes of the graph that IBP and CROWN bound (`BoundGraph`): each with its interval rule (forward) and its
linear-relaxation rule (backward); the layer rules in `kerobust.bounds.rules` build them.

References: Gowal et al. 2018 (IBP, eqs. (5)-(6)); Zhang et al. 2018, "Efficient Neural Network Robustness
Certification with General Activation Functions" (CROWN): a node maps the coefficients Lambda of a linear lower bound
Lambda . z_out + beta to the coefficients of its input. An affine node z = A x + a gives Lambda A (its
vector-Jacobian product, so every padding and stride is the layer's own) and adds Lambda . a; an activation bounded by
lines a_L z + b_L <= h(z) <= a_U z + b_U gives Lambda+ a_L + Lambda- a_U and adds Lambda+ b_L + Lambda- b_U (eq. (5));
for ReLU the upper line is the chord u (z - l) / (u - l) and the lower slope is CROWN-Ada's 1 if u > -l else 0.
Coefficients have shape (batch, specifications, *tensor shape).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import keras
from keras import ops

from kerobust import backend
from kerobust.bounds.linear.boxes import MONOTONE, activate
from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.errors import KerobustError
from kerobust.types import Tensor

LOWER_SLOPES = ("adaptive", "zero", "one")


def _split(lam):
    return ops.maximum(lam, 0.0), ops.minimum(lam, 0.0)


def _contract(lam, values):
    """sum over the tensor axes of lam (B, S, *shape) times values (B or 1, *shape): (B, S)."""
    batch, specs = ops.shape(lam)[0], lam.shape[1]
    flat_values = ops.reshape(values, (ops.shape(values)[0], 1, -1))
    return ops.sum(ops.reshape(lam, (batch, specs, -1)) * flat_values, axis=-1)


@dataclasses.dataclass
class Node:
    """One step of the graph: `output = f(inputs)`, keys into the bound dictionaries."""

    output: object
    inputs: tuple
    layer: object
    relaxed = False  # whether the backward rule reads the bounds of its input

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor] | None:
        """(centre, radius) of the output from those of the inputs; None where IBP has no rule."""
        raise NotImplementedError

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        """([Lambda of each input], beta increment (B, S)) from the output's Lambda."""
        raise NotImplementedError


@dataclasses.dataclass
class AffineNode(Node):
    """z = A x + a: `function` computes it; `interval_rule` its box (None: no interval rule, CROWN only)."""

    function: object = None
    interval_rule: object = None
    input_shape: tuple = ()

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor] | None:
        # `interval_rule`: a callable held in a field declared `object`
        return None if self.interval_rule is None else self.interval_rule(boxes)  # type: ignore[operator]

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        batch, specs = ops.shape(lam)[0], lam.shape[1]
        flat = ops.reshape(lam, (-1,) + tuple(lam.shape[2:]))
        zeros = ops.zeros((ops.shape(flat)[0],) + self.input_shape, lam.dtype)
        # Lambda A, and a (`function`: a callable held in a field declared `object`)
        transposed = backend.gradient(lambda t: ops.sum(self.function(t) * flat), zeros)  # type: ignore[operator]
        offset = self.function(ops.zeros((1,) + self.input_shape, lam.dtype))  # type: ignore[operator]
        return [ops.reshape(transposed, (batch, specs) + self.input_shape)], _contract(lam, offset)


@dataclasses.dataclass
class SumNode(Node):
    """A residual Add."""

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return sum(c for c, _ in boxes), sum(r for _, r in boxes)

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        return [lam] * len(self.inputs), 0.0


@dataclasses.dataclass
class ConcatNode(Node):
    sizes: tuple = ()
    axis: int = -1  # of the tensor with its batch axis

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return (ops.concatenate([c for c, _ in boxes], axis=self.axis),
                ops.concatenate([r for _, r in boxes], axis=self.axis))

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        edges = [sum(self.sizes[:i]) for i in range(1, len(self.sizes))]
        return ops.split(lam, edges, axis=self.axis + 1), 0.0


@dataclasses.dataclass
class ActivationNode(Node):
    """An elementwise non-decreasing h: piecewise-linear max(z, s z) with 0 <= s <= 1 (ReLU: s = 0) gets CROWN's
    chord and adaptive lower line; any other h the constant lines h(l) <= h(z) <= h(u)."""

    function: object = None  # h on tensors
    slope: float | None = None  # s of a (leaky) ReLU, or None for the constant lines
    interval_rule: object = None
    lower_slope: str = "adaptive"
    relaxed = True

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return self.interval_rule(boxes)  # type: ignore[operator]  # a callable in a field declared `object`

    def lines(self, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self.slope is None:
            zero = ops.zeros_like(lower)
            # `function`: a callable held in a field declared `object`
            return zero, self.function(lower), zero, self.function(upper)  # type: ignore[operator]
        s = self.slope
        active, inactive = lower >= 0, upper <= 0
        unstable = ops.logical_not(ops.logical_or(active, inactive))
        width = ops.where(unstable, upper - lower, 1.0)
        chord = ops.where(unstable, (upper - s * lower) / width, ops.where(active, 1.0, s))
        chord_offset = ops.where(unstable, upper * (1.0 - chord), 0.0)
        choice = {"adaptive": ops.where(upper > -lower, 1.0, s), "zero": s, "one": 1.0}[self.lower_slope]
        below = ops.where(active, 1.0, ops.where(inactive, s, choice))
        return below + ops.zeros_like(lower), ops.zeros_like(lower), chord, chord_offset

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        centre, radius = boxes[0]
        slope_low, offset_low, slope_up, offset_up = self.lines(centre - radius, centre + radius)
        positive, negative = _split(lam)
        coefficients = positive * slope_low[:, None] + negative * slope_up[:, None]
        return [coefficients], _contract(positive, offset_low) + _contract(negative, offset_up)


@dataclasses.dataclass
class MaxPoolNode(Node):
    """Max pooling. Non-overlapping windows: below by the window's element with the largest lower bound (the mean of
    tied ones), above by that element where its lower bound beats every other upper bound, else by the constant
    max u. Other pooling: the constant lines max l <= max z <= max u."""

    window: tuple | None = None  # (ph, pw) of non-overlapping windows covering the input, or None
    interval_rule: object = None
    relaxed = True

    def interval(self, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return self.interval_rule(boxes)  # type: ignore[operator]  # a callable in a field declared `object`

    def _pool(self, t):
        return self.layer(t, training=False)

    def _spread(self, pooled, axis=1):
        return ops.repeat(ops.repeat(pooled, self.window[0], axis=axis), self.window[1], axis=axis + 1)

    def backward(self, lam: Tensor, boxes: Sequence[tuple[Tensor, Tensor]]
                 ) -> tuple[list[Tensor | None], Tensor | float]:
        centre, radius = boxes[0]
        lower, upper = centre - radius, centre + radius
        top_upper = self._pool(upper)
        positive, negative = _split(lam)
        if self.window is None:
            return [None], _contract(positive, self._pool(lower)) + _contract(negative, top_upper)
        top_lower = self._pool(lower)
        best = ops.cast(lower >= self._spread(top_lower), lam.dtype)  # the elements with the largest lower bound
        count = ops.average_pool(best, self.window, self.window, "valid") * math.prod(self.window)
        choice = best / self._spread(count)  # the lower line: the mean of the tied best elements
        others = self._pool(ops.where(best > 0, -float("inf"), upper))  # the largest upper bound of the rest
        decided = ops.cast(ops.logical_and(count < 1.5, top_lower >= others), lam.dtype)
        chosen = positive + negative * decided[:, None]
        coefficients = choice[:, None] * self._spread(chosen, axis=2)
        return [coefficients], _contract(negative, (1.0 - decided) * top_upper)


def named_activation_node(output: str, inputs: tuple[str, ...], layer: keras.layers.Layer, name: str,
                          lower_slope: str) -> ActivationNode:
    """The node of an activation known by name (a layer's own, or an `Activation` layer's)."""
    if name not in MONOTONE:
        raise KerobustError(f"interval and linear bounds need a non-decreasing activation, not {name!r} "
                            f"(layer {layer.name!r}).")
    slope = {"relu": 0.0, "leaky_relu": 0.2}.get(name)  # keras.activations.leaky_relu's default slope
    return ActivationNode(output, inputs, layer, function=keras.activations.get(name), slope=slope,
                          interval_rule=lambda boxes: activate(name, *boxes[0]), lower_slope=lower_slope)


def max_pool_window(layer: keras.layers.Layer, shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(ph, pw) when the pooling windows tile the input exactly, else None."""
    if not isinstance(layer, keras.layers.MaxPooling2D) or not channels_last(layer):
        return None
    pool, strides = tuple(layer.pool_size), tuple(layer.strides)
    if pool != strides or shape[0] % pool[0] or shape[1] % pool[1]:
        return None
    return pool
