"""SENet-18: pre-activation ResNet-18 with squeeze-and-excitation in every block (CIFAR form), one of the four
architectures of Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness".

Reference: Hu et al. 2018, "Squeeze-and-Excitation Networks", Fig. 3 (SE-ResNet module, reduction 16); CIFAR form
with pre-activation blocks as in kuangliu/pytorch-cifar.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.models.conv_factory import ConvFactory
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike


def _squeeze_excite(x, reduction, name):
    channels = x.shape[-1]
    w = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    w = keras.layers.Conv2D(max(channels // reduction, 1), 1, activation="relu", name=f"{name}_reduce")(w)
    w = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(w)
    return keras.layers.Multiply(name=f"{name}_excite")([x, w])


def _pre_activation_se_block(x, layers, filters, stride, name):
    pre = keras.layers.ReLU(name=f"{name}_relu1")(layers.batch_norm(f"{name}_bn1")(x))
    skip = (x if stride == 1 and x.shape[-1] == filters
            else layers.conv(filters, 1, stride, name=f"{name}_shortcut")(pre))
    y = layers.conv(filters, 3, stride, name=f"{name}_conv1")(pre)
    y = keras.layers.ReLU(name=f"{name}_relu2")(layers.batch_norm(f"{name}_bn2")(y))
    y = layers.conv(filters, 3, 1, name=f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([_squeeze_excite(y, 16, name), skip])


@register("senet18")
def senet18(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, norm: str = "bn",
            input_noise: float = 0.0) -> keras.Model:
    """SENet-18: 3x3 stem (conv - BN - ReLU), 4 stages of 2 pre-activation SE blocks (64-512 channels, strides
    1, 2, 2, 2), global average pooling and a dense layer. Works from 8x8 inputs.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        norm: "none", "bn", "convnorm" or "bn+convnorm".
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    require_input_size("senet18", input_shape, 8)
    layers = ConvFactory(norm)
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = keras.layers.ReLU(name="stem_relu")(layers.conv_bn(x, 64, 3, name="stem_conv"))
    for stage, (width, stride) in enumerate(zip((64, 128, 256, 512), (1, 2, 2, 2)), start=1):
        for block in range(2):
            x = _pre_activation_se_block(x, layers, width, stride if block == 0 else 1,
                                         f"stage{stage}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"senet18-{layers.tag}")
