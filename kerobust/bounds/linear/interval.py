"""Interval bound propagation (IBP): a lower bound on the worst-case margin min_{c != y} z_y - z_c over an l-inf or
l2 ball intersected with the [0, 1] input box, for every test point at once.

Reference: Gowal et al. 2018, "On the Effectiveness of Interval Bound Propagation for Training Verifiably Robust
Models", eqs. (5)-(6), with the last Dense layer folded into the margin (their elision); box rules in `boxes.py`,
walked over `BoundGraph`. An l2 ball is relaxed to its enclosing box (sound, and loose; CROWN is tighter).

A bound > 0 certifies the point: no perturbation in the set changes the decision from y.
"""

from __future__ import annotations

from typing import Callable, Mapping

import keras
import numpy as np
from keras import ops

from kerobust import backend
from kerobust.attacks.lp_geometry import NORMS
from kerobust.bounds.linear.bound_graph import BoundGraph
from kerobust.bounds.linear.boxes import input_box, margin_gaps, worst_margin
from kerobust.bounds.rules import RULES
from kerobust.errors import unknown_name
from kerobust.types import Array, ArrayLike, Tensor


def interval_boxes(graph: BoundGraph, x: Tensor, eps: float | Tensor, norm: str) -> dict[str, tuple[Tensor, Tensor]]:
    """{key: (centre, radius)} of every tensor of `graph` over the ball."""
    boxes = {graph.input_key: input_box(x, eps, norm)}
    for node in graph.nodes:
        boxes[node.output] = node.interval([boxes[k] for k in node.inputs])
    return boxes


def interval_margins(graph: BoundGraph, boxes: Mapping[str, tuple[Tensor, Tensor]], y: Tensor) -> Tensor:
    """IBP's (N, C) margin bounds from the interval boxes of `graph` (column y: 0), the head folded in."""
    return margin_gaps(*flat_box(boxes[graph.features_key]), y, graph.head)


def flat_box(box: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    return tuple(ops.reshape(t, (ops.shape(t)[0], -1)) for t in box)


def batched(function: Callable[[Array, Array, np.float32], Tensor], x: ArrayLike, y: ArrayLike,
            eps: float | np.float32, batch_size: int) -> Array:
    """`function(x, y, eps)` over batches of numpy inputs, concatenated (numpy). A last, partial batch is padded with
    copies of its last point to the full batch, so that one compiled shape serves every batch (a second shape would
    cost a second trace); the padding's rows are dropped."""
    x, y = np.asarray(x, "float32"), np.asarray(y, "int32")
    eps = np.float32(eps)
    parts = []
    for start in range(0, len(x), batch_size):
        xs, ys = x[start:start + batch_size], y[start:start + batch_size]
        rows = len(xs)
        if start and rows < batch_size:
            xs = np.concatenate([xs, np.repeat(xs[-1:], batch_size - rows, axis=0)])
            ys = np.concatenate([ys, np.repeat(ys[-1:], batch_size - rows, axis=0)])
        parts.append(np.asarray(function(xs, ys, eps))[:rows])
    return np.concatenate(parts) if parts else np.zeros((0,), "float32")


class IntervalBounds:
    """Lower bounds on the worst-case margin of a Keras classifier over an eps-ball, by IBP, in one compiled function.

    Args:
        model: a functional or Sequential classifier (logits, or a softmax after them; nested models are not walked).
        norm: "linf" or "l2" (relaxed to its enclosing box).
        jit: as `BoundEvaluator`.

    Raises:
        KerobustError: naming the first layer without a rule.
    """

    method = "ibp"

    def __init__(self, model: keras.Model, norm: str = "linf", jit: str | bool = "auto"):
        if norm not in NORMS:
            raise unknown_name("threat norm", norm, NORMS)
        self.norm = norm
        self.model = model
        self.graph = BoundGraph(model)
        missing = self.graph.without_interval_rule()
        if missing is not None:
            raise RULES.no_rule(missing.layer, "interval")
        shape = self.graph.shapes["input"]
        if all(size is not None for size in shape):  # a layer without a rule is refused now, not at the first batch
            self.margin_bounds(ops.zeros((1,) + shape), ops.zeros((1,), "int32"), 0.0)
        if jit is False:
            self._compiled = self._margins
        else:
            self._compiled = backend.compile_function(self._margins,
                                                      xla=backend.use_xla("auto" if jit is True else jit), per_point=2)

    def margin_bounds(self, x: Tensor, y: Tensor, eps: float | Tensor) -> Tensor:
        """(N, C) lower bounds on z_y - z_c (column y: 0), differentiable in the weights (IBP training)."""
        return interval_margins(self.graph, interval_boxes(self.graph, x, eps, self.norm), y)

    def _margins(self, x, y, eps):
        return worst_margin(self.margin_bounds(x, y, eps), y)

    def __call__(self, x: ArrayLike, y: ArrayLike, eps: float, batch_size: int = 256) -> Array:
        """(N,) lower bounds on min_{c != y} z_y - z_c over the ball of radius `eps` around each x (numpy)."""
        return batched(self._compiled, x, y, eps, batch_size)
