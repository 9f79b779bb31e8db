"""Standalone activation layers (Activation, ReLU, LeakyReLU, ELU): sup |g'| (sound), kappa unchanged (Peck 2017
keeps it, valid for a constant <= 1), [h(l), h(u)] for a non-decreasing h (IBP), and CROWN's chord and adaptive lower
line for a (leaky) ReLU, constant lines for any other non-decreasing h."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import keras

from kerobust.bounds.lipschitz.activations import activation_name
from kerobust.bounds.linear.boxes import activate, monotone_box
from kerobust.bounds.linear.graph_nodes import ActivationNode, Node, named_activation_node
from kerobust.bounds.lipschitz.pass_through import standalone_activation_lipschitz
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Array, Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph

PARAMETRISED = (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU)


class ActivationRule(LayerRule):
    types = (keras.layers.Activation,) + PARAMETRISED
    label = "activations"

    def check(self, layer: keras.layers.Layer, family: str) -> str | None:
        if family not in ("interval", "linear"):
            return None
        if isinstance(layer, (keras.layers.ReLU, keras.layers.LeakyReLU)) and float(layer.negative_slope) < 0:
            return "a negative slope is not monotone"
        if isinstance(layer, keras.layers.ELU) and float(layer.alpha) < 0:
            return "a negative alpha is not monotone"
        return None

    def lipschitz(self, layer: keras.layers.Layer, kernel: Array | None = None) -> float:
        return standalone_activation_lipschitz(layer)

    def thesis_step(self, layer: keras.layers.Layer) -> tuple[None, keras.KerasTensor]:
        return None, layer.input

    def thesis_bound(self, kappa: Tensor, payload: Any, tensor: Tensor) -> Tensor:
        return kappa

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        if isinstance(layer, PARAMETRISED):  # with or without a ceiling
            return monotone_box(lambda t: layer(t, training=False), *boxes[0])
        return activate(activation_name(layer.activation), *boxes[0])

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        if not isinstance(layer, PARAMETRISED):
            return [named_activation_node(output, inputs, layer, activation_name(layer.activation),
                                          graph.lower_slope)]
        slope = None
        if isinstance(layer, keras.layers.ReLU):
            negative = float(layer.negative_slope)
            if layer.max_value is None and float(layer.threshold) == 0 and negative <= 1:
                slope = negative
        elif isinstance(layer, keras.layers.LeakyReLU):
            negative = float(layer.negative_slope)
            slope = negative if negative <= 1 else None
        return [ActivationNode(output, inputs, layer, function=lambda t: layer(t, training=False), slope=slope,
                               interval_rule=lambda boxes: self.interval(layer, boxes),
                               lower_slope=graph.lower_slope)]
