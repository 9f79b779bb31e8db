"""UpSampling2D with nearest-neighbour interpolation: every input value is copied into an a x b block, so the map is
linear with all singular values sqrt(a b) (sound: Lipschitz constant sqrt(a b), exact), the box is copied as it is
(IBP, exact) and CROWN sees an affine node. Bilinear interpolation is refused (its constant is not sqrt(a b)).
Peck (2017) has no thesis rule for it.
"""

import math

import keras

from kerobust.bounds.lipschitz.folding import channels_last
from kerobust.bounds.linear.graph_nodes import AffineNode
from kerobust.bounds.rules.base import LayerRule


class UpSampling2DRule(LayerRule):
    types = (keras.layers.UpSampling2D,)
    label = "UpSampling2D (nearest)"

    def check(self, layer, family):
        if layer.interpolation != "nearest":
            return f"{layer.interpolation} interpolation; only nearest"
        return None if channels_last(layer) else "channels first"

    def lipschitz(self, layer, kernel=None):
        return math.sqrt(math.prod(layer.size))

    def interval(self, layer, boxes):
        centre, radius = boxes[0]
        return layer(centre), layer(radius)

    def linear_nodes(self, layer, inputs, output, graph):
        return [AffineNode(output, inputs, layer, function=layer, input_shape=graph.shapes[inputs[0]],
                           interval_rule=lambda boxes: self.interval(layer, boxes))]
