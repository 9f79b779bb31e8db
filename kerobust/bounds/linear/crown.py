"""CROWN: lower bounds on the worst-case margin min_{c != y} z_y - z_c by backward linear relaxation, over an l-inf or
l2 ball intersected with the [0, 1] input box.

Reference: Zhang et al. 2018, "Efficient Neural Network Robustness Certification with General Activation Functions",
Theorem 3.2: the specification rows (here w_y - w_c of the folded Dense head, Gowal et al.'s elision, as auto_LiRPA's
specification matrix) travel backward through `BoundGraph`'s linear relaxations to a linear function
Lambda . x + beta of the input, whose minimum over the ball is closed-form: over the box [l, u],
Lambda . m - |Lambda| . r; over the l2 ball, Lambda . x - eps ||Lambda||_2 (eq. (9), dual norm). For l2 both hold on
the ball within the box, so the larger is kept.

Every ReLU needs bounds on its input. `intermediate="crown"` computes them by the same backward pass from that
tensor (one specification per neuron and side: full CROWN, the tightest and the costliest) and keeps the
intersection with the interval box; `intermediate="ibp"` takes the interval boxes (CROWN-IBP, Zhang et al. 2020:
one backward pass, for training). A tensor without an interval rule (ConvNorm) is bounded by CROWN itself.
"""

from __future__ import annotations

import math
from typing import Mapping

import keras
from keras import ops

from kerobust import backend
from kerobust.attacks.lp_geometry import NORMS
from kerobust.bounds.linear.bound_graph import BoundGraph
from kerobust.bounds.linear.boxes import input_box, worst_margin
from kerobust.bounds.rules import RULES
from kerobust.bounds.linear.interval import batched, flat_box, interval_boxes, interval_margins
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import Array, ArrayLike, Tensor

INTERMEDIATE = ("crown", "ibp")
MEMORY_FLOATS = 2 ** 26  # about 256 MiB per coefficient tensor: sets the default batch of full CROWN


def concretize(lam: Tensor, x: Tensor, eps: float | Tensor, norm: str) -> Tensor:
    """min of Lambda . x' over the ball of radius eps around x within [0, 1]: (B, S) from Lambda (B, S, *shape)."""
    batch, specs = ops.shape(lam)[0], lam.shape[1]
    lam = ops.reshape(lam, (batch, specs, -1))
    centre, radius = flat_box(input_box(x, eps, norm))
    bound = ops.einsum("bsd,bd->bs", lam, centre) - ops.einsum("bsd,bd->bs", ops.abs(lam), radius)
    if norm == "l2":
        flat_x = ops.reshape(x, (batch, -1))
        ball = ops.einsum("bsd,bd->bs", lam, flat_x) - eps * ops.sqrt(ops.sum(lam * lam, axis=-1))
        bound = ops.maximum(bound, ball)
    return bound


def margin_rows(graph: BoundGraph, y: Tensor, dtype: str = "float32") -> tuple[Tensor, Tensor]:
    """Specification (Lambda, beta) at the features: z_y - z_c for every class c, as rows of the folded head."""
    head = graph.head
    shape = graph.shapes[graph.features_key]
    if head is None:
        classes = shape[-1]
        onehot = ops.one_hot(y, classes, dtype=dtype)
        return onehot[:, None, :] - ops.eye(classes, dtype=dtype)[None], ops.zeros((ops.shape(y)[0], classes), dtype)
    kernel = ops.convert_to_tensor(head.kernel)
    classes = kernel.shape[-1]
    onehot = ops.one_hot(y, classes, dtype=kernel.dtype)
    rows = ops.matmul(onehot, ops.transpose(kernel))[:, None, :] - ops.transpose(kernel)[None]  # (N, C, d)
    offset = ops.zeros((ops.shape(y)[0], classes), kernel.dtype)
    if head.use_bias:
        bias = ops.convert_to_tensor(head.bias)
        offset = ops.sum(bias * onehot, axis=-1, keepdims=True) - bias
    return ops.reshape(rows, (ops.shape(y)[0], classes) + shape), offset


def _tightened(box, lower, upper):
    """The intersection of an interval box with linear bounds, as (centre, radius); a zero radius stays zero."""
    centre, radius = box
    low, high = ops.maximum(lower, centre - radius), ops.minimum(upper, centre + radius)
    low = ops.minimum(low, high)  # rounding must not cross the two
    return ops.where(radius <= 0, centre, (low + high) / 2), ops.where(radius <= 0, 0.0, (high - low) / 2)


class CrownBounds:
    """Lower bounds on the worst-case margin of a Keras classifier over an eps-ball, by CROWN, compiled.

    Args:
        model: a functional or Sequential classifier (logits, or a softmax after them; nested models are not walked).
        norm: "linf" or "l2".
        intermediate: "crown" (full CROWN) or "ibp" (CROWN-IBP: interval boxes for the ReLUs' inputs).
        lower_slope: CROWN's lower line of unstable ReLUs, "adaptive" (CROWN-Ada), "zero" or "one".
        jit: as `BoundEvaluator`.

    Raises:
        KerobustError: naming the first layer without a rule.
    """

    def __init__(self, model: keras.Model, norm: str = "linf", intermediate: str = "crown",
                 lower_slope: str = "adaptive", jit: str | bool = "auto"):
        if norm not in NORMS:
            raise unknown_name("threat norm", norm, NORMS)
        if intermediate not in INTERMEDIATE:
            raise unknown_name("intermediate bound", intermediate, INTERMEDIATE)
        self.norm, self.intermediate = norm, intermediate
        self.method = "crown" if intermediate == "crown" else "crown-ibp"
        self.model = model
        self.graph = BoundGraph(model, lower_slope)
        missing = self.graph.without_interval_rule()
        if missing is not None and intermediate == "ibp":
            raise RULES.no_rule(missing.layer, "interval")
        shape = self.graph.shapes["input"]
        if any(size is None for size in shape):
            raise KerobustError(f"CROWN needs a fixed input shape; model {model.name!r} takes {shape}.")
        self.margin_bounds(ops.zeros((1,) + shape), ops.zeros((1,), "int32"), 0.0)  # refuses now, not at a batch
        if jit is False:
            self._compiled = self._margins
        else:
            self._compiled = backend.compile_function(self._margins,
                                                      xla=backend.use_xla("auto" if jit is True else jit), per_point=2)

    def default_batch_size(self) -> int:
        """Points per batch so that one coefficient tensor of full CROWN holds about `MEMORY_FLOATS` numbers."""
        if self.intermediate == "ibp":
            return 256
        largest = max(math.prod(shape) for shape in self.graph.shapes.values())
        widest = max([math.prod(self.graph.shapes[k]) for k in self.graph.relaxed_inputs] + [1])
        return max(1, min(256, MEMORY_FLOATS // (2 * widest * largest)))

    def backward(self, key: str, lam: Tensor, offset: Tensor, boxes: Mapping[str, tuple[Tensor, Tensor]], x: Tensor,
                 eps: float | Tensor) -> Tensor:
        """min over the ball of Lambda . z_key + offset, by linear relaxation of every node `key` depends on."""
        coefficients = {key: lam}
        for node in reversed(self.graph.nodes):
            lam = coefficients.pop(node.output, None)
            if lam is None:
                continue
            inputs, increment = node.backward(lam, [boxes.get(k) for k in node.inputs])
            offset = offset + increment
            for k, value in zip(node.inputs, inputs):
                if value is not None:
                    coefficients[k] = value if k not in coefficients else coefficients[k] + value
        lam = coefficients.pop(self.graph.input_key, None)
        return offset if lam is None else offset + concretize(lam, x, eps, self.norm)

    def _bounds_of(self, key, box, boxes, x, eps):
        """The box of tensor `key` from a backward pass with one specification per neuron and side."""
        shape = self.graph.shapes[key]
        size = math.prod(shape)
        batch = ops.shape(x)[0]
        identity = ops.concatenate([ops.eye(size), -ops.eye(size)], axis=0)
        lam = ops.broadcast_to(ops.reshape(identity, (1, 2 * size) + shape), (batch, 2 * size) + shape)
        bounds = self.backward(key, lam, ops.zeros((batch, 2 * size)), boxes, x, eps)
        lower = ops.reshape(bounds[:, :size], (batch,) + shape)
        upper = -ops.reshape(bounds[:, size:], (batch,) + shape)
        if box is None:
            low = ops.minimum(lower, upper)
            return (low + upper) / 2, (upper - low) / 2
        return _tightened(box, lower, upper)

    def boxes(self, x: Tensor, eps: float | Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """{key: (centre, radius)}: interval boxes, those read by relaxations tightened by CROWN (full CROWN)."""
        if self.intermediate == "ibp":
            return interval_boxes(self.graph, x, eps, self.norm)
        boxes = {self.graph.input_key: input_box(x, eps, self.norm)}
        for node in self.graph.nodes:
            box = node.interval([boxes[k] for k in node.inputs])
            if box is None or node.output in self.graph.relaxed_inputs:
                box = self._bounds_of(node.output, box, boxes, x, eps)
            boxes[node.output] = box
        return boxes

    def margin_bounds(self, x: Tensor, y: Tensor, eps: float | Tensor) -> Tensor:
        """(N, C) lower bounds on z_y - z_c (column y: 0), differentiable in the weights."""
        return self.margin_bounds_and_boxes(x, y, eps)[0]

    def margin_bounds_and_boxes(self, x: Tensor, y: Tensor, eps: float | Tensor
                                ) -> tuple[Tensor, dict[str, tuple[Tensor, Tensor]]]:
        """`margin_bounds` and the boxes it used (CROWN-IBP training also takes IBP's margins from them)."""
        boxes = self.boxes(x, eps)
        lam, offset = margin_rows(self.graph, y)
        bounds = self.backward(self.graph.features_key, lam, offset, boxes, x, eps)
        return ops.where(ops.one_hot(y, bounds.shape[-1], dtype=bounds.dtype) > 0, 0.0, bounds), boxes

    def interval_margins(self, boxes: Mapping[str, tuple[Tensor, Tensor]], y: Tensor) -> Tensor:
        """IBP's (N, C) margin bounds from interval boxes of this graph."""
        return interval_margins(self.graph, boxes, y)

    def _margins(self, x, y, eps):
        return worst_margin(self.margin_bounds(x, y, eps), y)

    def __call__(self, x: ArrayLike, y: ArrayLike, eps: float, batch_size: int | None = None) -> Array:
        """(N,) lower bounds on min_{c != y} z_y - z_c over the ball of radius `eps` around each x (numpy)."""
        return batched(self._compiled, x, y, eps, batch_size or self.default_batch_size())
