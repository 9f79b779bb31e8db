"""Input normalisation (x - mean) / std and Rescaling(s): diagonal maps, max |1 / std| and |s| (sound and thesis:
bounds in the units of the model's input), their boxes (IBP) and affine nodes (CROWN)."""

import keras

from kerobust.bounds.linear.boxes import monotone_box
from kerobust.bounds.linear.graph_nodes import AffineNode
from kerobust.bounds.lipschitz.pass_through import scaling_lipschitz
from kerobust.bounds.rules.base import LayerRule


class ScalingRule(LayerRule):
    types = (keras.layers.Normalization, keras.layers.Rescaling)
    label = "input normalisation, Rescaling"

    def lipschitz(self, layer, kernel=None):
        return scaling_lipschitz(layer)

    def thesis_step(self, layer):
        return scaling_lipschitz(layer), layer.input

    def thesis_bound(self, kappa, payload, tensor):
        return kappa / payload  # the scaling's precomputed Lipschitz constant

    def interval(self, layer, boxes):
        centre, radius = boxes[0]
        if isinstance(layer, keras.layers.Rescaling):
            return layer(centre), radius * abs(float(layer.scale))
        return monotone_box(lambda t: layer(t, training=False), centre, radius)

    def linear_nodes(self, layer, inputs, output, graph):
        return [AffineNode(output, inputs, layer, function=lambda t: layer(t, training=False),
                           interval_rule=lambda boxes: self.interval(layer, boxes),
                           input_shape=graph.shapes[inputs[0]])]
