"""Merges of branches: a residual Add (Lip <= the sum of the branches' constants; boxes and CROWN coefficients add)
and a Concatenate (Lip <= the root of the sum of squares; boxes and coefficients are split along its axis)
(Szegedy et al. 2014 section 4.3; Tsuzuku et al. 2018 section 3). Peck's (2017) thesis mode covers chains only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import keras
from keras import ops

from kerobust.bounds.linear.graph_nodes import ConcatNode, Node, SumNode
from kerobust.bounds.rules.base import LayerRule
from kerobust.types import Tensor

if TYPE_CHECKING:  # imported for the annotations only: bound_graph imports the rules
    from kerobust.bounds.linear.bound_graph import BoundGraph


class AddRule(LayerRule):
    types = (keras.layers.Add,)
    label = "Add"
    merges = True

    def merge_lipschitz(self, constants: Sequence[float | Tensor]) -> float | Tensor:
        return sum(constants)

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return sum(c for c, _ in boxes), sum(r for _, r in boxes)

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        return [SumNode(output, inputs, layer)]


class ConcatenateRule(LayerRule):
    types = (keras.layers.Concatenate,)
    label = "Concatenate"
    merges = True

    def merge_lipschitz(self, constants: Sequence[float | Tensor]) -> float | Tensor:
        return sum(c * c for c in constants) ** 0.5

    def interval(self, layer: keras.layers.Layer, boxes: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
        return (ops.concatenate([c for c, _ in boxes], axis=layer.axis),
                ops.concatenate([r for _, r in boxes], axis=layer.axis))

    def linear_nodes(self, layer: keras.layers.Layer, inputs: tuple[str, ...], output: str,
                     graph: BoundGraph) -> list[Node]:
        axis = layer.axis % (len(graph.shapes[inputs[0]]) + 1)
        sizes = tuple(graph.shapes[key][axis - 1] for key in inputs)
        return [ConcatNode(output, inputs, layer, sizes=sizes, axis=axis)]
