"""Which rule a layer gets, in each mode: `lipschitz(layer)` for sound mode, and the layer kinds the thesis mode
walks through. Every layer without a rule raises an error that names it."""

import keras

from kerobust.bounds.batch_norm import batch_norm_lipschitz
from kerobust.bounds.conv_norm import conv_norm_lipschitz
from kerobust.bounds.convolution import conv_lipschitz, depthwise_lipschitz
from kerobust.bounds.folding import channels_last
from kerobust.bounds.dense_block import dense_lipschitz
from kerobust.bounds.local_response_norm import lrn_lipschitz
from kerobust.bounds.pass_through import (
    ACTIVATION_LAYERS, IDENTITY_LAYERS, SCALING_LAYERS, scaling_lipschitz, standalone_activation_lipschitz,
)
from kerobust.bounds.pooling import pooling_lipschitz
from kerobust.bounds.activations import activation_name, lipschitz as activation_lipschitz
from kerobust.errors import KerobustError
from kerobust.layers import ConvNorm, LocalResponseNormalization, LpPooling2D
from kerobust.layers.noise_injection import is_random_at_inference
from kerobust.norms.layer_norm import conv_input_size

POOLING_LAYERS = (
    keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling2D, LpPooling2D,
)
MERGE_LAYERS = (keras.layers.Add, keras.layers.Concatenate)


def refuse_randomised(layer):
    """A clear error for layers that stay random at inference (kerobust's noise layers)."""
    if is_random_at_inference(layer):
        raise KerobustError(f"layer {layer.name!r} is random at inference; a deterministic bound does not apply.")


def no_rule(layer, mode):
    return KerobustError(
        f"no {mode}-mode bound rule for layer {layer.name!r} ({type(layer).__name__}); supported: Dense, Conv2D, "
        f"pooling (max, average, L_p), BatchNormalization, LocalResponseNormalization, activations, Flatten, Dropout, input "
        f"normalisation" + (", DepthwiseConv2D, ConvNorm, Add and Concatenate." if mode == "sound" else " (chains only).")
    )


def layer_lipschitz(layer, kernel=None):
    """An upper bound on the layer's l2 Lipschitz constant (sound mode), activation included; `kernel` replaces a
    Conv2D / DepthwiseConv2D / Dense layer's own (a batch norm folded in, `folding`)."""
    refuse_randomised(layer)
    if isinstance(layer, IDENTITY_LAYERS):
        return 1.0
    if isinstance(layer, keras.layers.Conv2D):
        return conv_lipschitz(layer, kernel) * activation_lipschitz(activation_name(layer.activation))
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        size = conv_input_size(layer)
        return depthwise_lipschitz(layer, size, kernel) * activation_lipschitz(activation_name(layer.activation))
    if isinstance(layer, ConvNorm):
        return conv_norm_lipschitz(layer)
    if isinstance(layer, keras.layers.Dense):
        return dense_lipschitz(layer, kernel)
    if isinstance(layer, keras.layers.BatchNormalization):
        if not channels_last(layer):
            raise no_rule(layer, "sound")
        return batch_norm_lipschitz(layer)
    if isinstance(layer, POOLING_LAYERS):
        return pooling_lipschitz(layer)
    if isinstance(layer, LocalResponseNormalization):
        return lrn_lipschitz(layer)
    if isinstance(layer, ACTIVATION_LAYERS):
        return standalone_activation_lipschitz(layer)
    if isinstance(layer, SCALING_LAYERS):
        return scaling_lipschitz(layer)
    raise no_rule(layer, "sound")
