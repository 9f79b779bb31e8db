"""Conv2D layers (grouped and dilated too): the circular-operator / Frobenius bound times the activation's constant
(sound), Peck's (2017) Theorem 5.1 (thesis), the affine box and nodes (IBP, CROWN), power iteration per DFT frequency
(trainable)."""

import keras

from kerobust.bounds.lipschitz.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.bounds.lipschitz.convolution import conv_lipschitz, thesis_conv
from kerobust.bounds.lipschitz.power_norms import conv_power_norm, power_vector_shape
from kerobust.bounds.rules.linear_layers import LinearLayerRule


class Conv2DRule(LinearLayerRule):
    types = (keras.layers.Conv2D,)
    label = "Conv2D"

    def lipschitz(self, layer, kernel=None):
        return conv_lipschitz(layer, kernel) * activation_lipschitz(activation_name(layer.activation))

    def thesis_step(self, layer):
        return layer, layer.input

    def thesis_bound(self, kappa, payload, tensor):
        return thesis_conv(kappa, payload.kernel)

    def power_vector_shape(self, layer):
        return power_vector_shape(layer)

    def trainable_lipschitz(self, layer, vector, iterations):
        return conv_power_norm(layer, vector, iterations) * activation_lipschitz(activation_name(layer.activation))
