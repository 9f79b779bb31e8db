"""A Keras classifier as the graph that IBP and CROWN bound: one table from layer type to node, each node with its
interval rule (forward) and its linear-relaxation rule (backward).

References: Gowal et al. 2018 (IBP, eqs. (5)-(6)); Zhang et al. 2018, "Efficient Neural Network Robustness
Certification with General Activation Functions" (CROWN): a node maps the coefficients Lambda of a linear lower bound
Lambda . z_out + beta to the coefficients of its input. An affine node z = A x + a gives Lambda A (its
vector-Jacobian product, so every padding and stride is the layer's own) and adds Lambda . a; an activation bounded by
lines a_L z + b_L <= h(z) <= a_U z + b_U gives Lambda+ a_L + Lambda- a_U and adds Lambda+ b_L + Lambda- b_U (eq. (5));
for ReLU the upper line is the chord u (z - l) / (u - l) and the lower slope is CROWN-Ada's 1 if u > -l else 0.

Dense and convolution layers with an activation become two nodes, the affine part and the activation. Coefficients
have shape (batch, specifications, *tensor shape). A Sequential model is walked as a chain, so it needs no copy (the
bound of a model being trained must read that model's own weights).
"""

import dataclasses
import math

import keras
from keras import ops

from kerobust import backend
from kerobust.bounds.activations import activation_name
from kerobust.bounds.boxes import (
    MONOTONE, MONOTONE_POOLING, NONNEGATIVE_LINEAR, activate, affine_box, affine_map, no_rule, propagate,
)
from kerobust.bounds.evaluator import decision_head
from kerobust.bounds.folding import channels_last, inputs_of
from kerobust.bounds.pass_through import IDENTITY_LAYERS
from kerobust.bounds.rules import refuse_randomised
from kerobust.errors import KerobustError
from kerobust.layers import ConvNorm

LINEAR_WITH_ACTIVATION = (keras.layers.Dense, keras.layers.Conv2D, keras.layers.DepthwiseConv2D)
ELEMENTWISE_AFFINE = (keras.layers.BatchNormalization, keras.layers.Normalization, keras.layers.Rescaling)
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

    def interval(self, boxes):
        """(centre, radius) of the output from those of the inputs; None where IBP has no rule."""
        raise NotImplementedError

    def backward(self, lam, boxes):
        """([Lambda of each input], beta increment (B, S)) from the output's Lambda."""
        raise NotImplementedError


@dataclasses.dataclass
class AffineNode(Node):
    """z = A x + a: `function` computes it; `interval_rule` its box (None: no interval rule, CROWN only)."""

    function: object = None
    interval_rule: object = None
    input_shape: tuple = ()

    def interval(self, boxes):
        return None if self.interval_rule is None else self.interval_rule(boxes)

    def backward(self, lam, boxes):
        batch, specs = ops.shape(lam)[0], lam.shape[1]
        flat = ops.reshape(lam, (-1,) + tuple(lam.shape[2:]))
        zeros = ops.zeros((ops.shape(flat)[0],) + self.input_shape, lam.dtype)
        transposed = backend.gradient(lambda t: ops.sum(self.function(t) * flat), zeros)  # Lambda A
        offset = self.function(ops.zeros((1,) + self.input_shape, lam.dtype))  # a
        return [ops.reshape(transposed, (batch, specs) + self.input_shape)], _contract(lam, offset)


@dataclasses.dataclass
class SumNode(Node):
    """A residual Add."""

    def interval(self, boxes):
        return sum(c for c, _ in boxes), sum(r for _, r in boxes)

    def backward(self, lam, boxes):
        return [lam] * len(self.inputs), 0.0


@dataclasses.dataclass
class ConcatNode(Node):
    sizes: tuple = ()
    axis: int = -1  # of the tensor with its batch axis

    def interval(self, boxes):
        return (ops.concatenate([c for c, _ in boxes], axis=self.axis),
                ops.concatenate([r for _, r in boxes], axis=self.axis))

    def backward(self, lam, boxes):
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

    def interval(self, boxes):
        return self.interval_rule(boxes)

    def lines(self, lower, upper):
        if self.slope is None:
            zero = ops.zeros_like(lower)
            return zero, self.function(lower), zero, self.function(upper)
        s = self.slope
        active, inactive = lower >= 0, upper <= 0
        unstable = ops.logical_not(ops.logical_or(active, inactive))
        width = ops.where(unstable, upper - lower, 1.0)
        chord = ops.where(unstable, (upper - s * lower) / width, ops.where(active, 1.0, s))
        chord_offset = ops.where(unstable, upper * (1.0 - chord), 0.0)
        choice = {"adaptive": ops.where(upper > -lower, 1.0, s), "zero": s, "one": 1.0}[self.lower_slope]
        below = ops.where(active, 1.0, ops.where(inactive, s, choice))
        return below + ops.zeros_like(lower), ops.zeros_like(lower), chord, chord_offset

    def backward(self, lam, boxes):
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
    relaxed = True

    def interval(self, boxes):
        return propagate(self.layer, boxes)

    def _pool(self, t):
        return self.layer(t, training=False)

    def _spread(self, pooled, axis=1):
        return ops.repeat(ops.repeat(pooled, self.window[0], axis=axis), self.window[1], axis=axis + 1)

    def backward(self, lam, boxes):
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


def _activation_node(output, inputs, layer, lower_slope):
    """The node of a standalone activation layer, or a KerobustError."""
    rule = lambda boxes: propagate(layer, boxes)  # noqa: E731 (refuses what IBP cannot bound either)
    function = lambda t: layer(t, training=False)  # noqa: E731
    slope = None
    if isinstance(layer, keras.layers.ReLU):
        negative = float(layer.negative_slope)
        if negative < 0:
            raise no_rule(layer)
        if layer.max_value is None and float(layer.threshold) == 0 and negative <= 1:
            slope = negative
    elif isinstance(layer, keras.layers.LeakyReLU):
        negative = float(layer.negative_slope)
        if negative < 0:
            raise no_rule(layer)
        slope = negative if negative <= 1 else None
    elif isinstance(layer, keras.layers.ELU):
        if float(layer.alpha) < 0:
            raise no_rule(layer)
    else:
        name = activation_name(layer.activation)
        return _named_activation(output, inputs, layer, name, lower_slope)
    return ActivationNode(output, inputs, layer, function=function, slope=slope, interval_rule=rule,
                          lower_slope=lower_slope)


def _named_activation(output, inputs, layer, name, lower_slope):
    if name not in MONOTONE:
        raise KerobustError(f"interval and linear bounds need a non-decreasing activation, not {name!r} "
                            f"(layer {layer.name!r}).")
    slope = {"relu": 0.0, "leaky_relu": 0.2}.get(name)  # keras.activations.leaky_relu's default slope
    return ActivationNode(output, inputs, layer, function=keras.activations.get(name), slope=slope,
                          interval_rule=lambda boxes: activate(name, *boxes[0]), lower_slope=lower_slope)


def _max_pool_window(layer, shape):
    """(ph, pw) when the pooling windows tile the input exactly, else None."""
    if not isinstance(layer, keras.layers.MaxPooling2D) or not channels_last(layer):
        return None
    pool, strides = tuple(layer.pool_size), tuple(layer.strides)
    if pool != strides or shape[0] % pool[0] or shape[1] % pool[1]:
        return None
    return pool


class BoundGraph:
    """The nodes of `model` in evaluation order, its input key and the key and Dense head of the margin.

    Args:
        model: a functional or Sequential classifier (logits, or a softmax after them; nested models are not walked).
        lower_slope: CROWN's lower line of an unstable ReLU: "adaptive" (slope 1 if u > -l else 0), "zero", "one".
    """

    def __init__(self, model, lower_slope="adaptive"):
        if lower_slope not in LOWER_SLOPES:
            raise KerobustError(f"lower slope must be one of {', '.join(LOWER_SLOPES)}, got {lower_slope!r}.")
        if len(model.inputs) != 1:
            raise KerobustError(f"model {model.name!r} has {len(model.inputs)} inputs; bounds need one.")
        head, layers = decision_head(model)
        self.head = head.layer
        self.input_key = "input"
        self.shapes = {"input": tuple(model.inputs[0].shape[1:])}
        chain = isinstance(model, keras.Sequential)
        keys = {id(model.inputs[0]): "input"}
        self.nodes = []
        previous = "input"
        for index, layer in enumerate(layers):
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if chain:
                inputs = (previous,)
            else:
                found = [keys.get(id(t)) for t in inputs_of(layer)]
                if any(k is None for k in found):
                    raise KerobustError(f"layer {layer.name!r} reads a tensor that is not computed from the model input.")
                inputs = tuple(found)
            output = f"{index}:{layer.name}"
            keys[id(layer.output)] = output
            self.shapes[output] = tuple(layer.output.shape[1:])
            self.nodes.extend(self._nodes_of(layer, inputs, output, lower_slope))
            previous = output
        self.features_key = previous if chain else keys[id(head.features)]
        self.relaxed_inputs = {node.inputs[0] for node in self.nodes if node.relaxed}

    def _nodes_of(self, layer, inputs, output, lower_slope):
        refuse_randomised(layer)
        shape = self.shapes[inputs[0]]
        if isinstance(layer, keras.layers.Add):
            return [SumNode(output, inputs, layer)]
        if isinstance(layer, keras.layers.Concatenate):
            rank = len(shape) + 1
            axis = layer.axis % rank
            return [ConcatNode(output, inputs, layer, sizes=tuple(self.shapes[k][axis - 1] for k in inputs), axis=axis)]
        if len(inputs) != 1:
            raise no_rule(layer)
        if isinstance(layer, LINEAR_WITH_ACTIVATION) and channels_last(layer):
            name = activation_name(layer.activation)
            pre = output if name == "linear" else output + ":pre"
            self.shapes[pre] = self.shapes[output]
            affine = AffineNode(pre, inputs, layer, function=lambda t: affine_map(layer, t),
                                interval_rule=lambda boxes: affine_box(layer, *boxes[0]), input_shape=shape)
            if name == "linear":
                return [affine]
            return [affine, _named_activation(output, (pre,), layer, name, lower_slope)]
        whole = lambda t: layer(t, training=False)  # noqa: E731
        if isinstance(layer, IDENTITY_LAYERS + NONNEGATIVE_LINEAR + ELEMENTWISE_AFFINE):
            if isinstance(layer, keras.layers.BatchNormalization) and not channels_last(layer):
                raise no_rule(layer)
            return [AffineNode(output, inputs, layer, function=whole, interval_rule=lambda boxes: propagate(layer, boxes),
                               input_shape=shape)]
        if isinstance(layer, ConvNorm):  # a fixed linear operator at inference; IBP would need |A|
            return [AffineNode(output, inputs, layer, function=whole, input_shape=shape)]
        if isinstance(layer, MONOTONE_POOLING):
            return [MaxPoolNode(output, inputs, layer, window=_max_pool_window(layer, shape))]
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.Activation)):
            return [_activation_node(output, inputs, layer, lower_slope)]
        raise no_rule(layer)

    def without_interval_rule(self):
        """The first node IBP cannot bound, or None."""
        return next((node for node in self.nodes if isinstance(node, AffineNode) and node.interval_rule is None), None)
