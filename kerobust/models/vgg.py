"""VGG-11 in its CIFAR form (batch norm after every convolution, one dense classifier), as Liang & Huang
(2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", train it.

Reference: Simonyan & Zisserman 2015, "Very Deep Convolutional Networks", Table 1 configuration A; CIFAR form with
batch norm and a single 512 -> classes layer as in kuangliu/pytorch-cifar.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.models.conv_factory import ConvFactory
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike

VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


@register("vgg11")
def vgg11(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, norm: str = "bn",
          input_noise: float = 0.0) -> keras.Model:
    """VGG-11: eight 3x3 convolutions (conv - BN - ReLU) with five 2x2 max poolings, then a dense layer.

    A pooling that would shrink a 1x1 map is left out, so inputs smaller than 32x32 (8x8 digits) work; on 32x32 all
    five pools apply and the network is the CIFAR VGG-11 exactly.

    Args:
        input_shape, num_classes, mean, std: as for every architecture.
        norm: "none", "bn", "convnorm" or "bn+convnorm".
        input_noise: Gaussian noise (pixels) on the input, also at inference.
    """
    require_input_size("vgg11", input_shape, 2)
    layers = ConvFactory(norm)
    inputs, x = image_input(input_shape, mean, std, input_noise)
    conv_index, pool_index = 0, 0
    for entry in VGG11:
        if entry == "M":
            pool_index += 1
            if min(x.shape[1:3]) >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"pool{pool_index}")(x)
            continue
        conv_index += 1
        x = layers.conv_bn(x, entry, 3, name=f"conv{conv_index}")  # type: ignore[arg-type]  # "M" skipped above
        x = keras.layers.ReLU(name=f"conv{conv_index}_relu")(x)
    x = (keras.layers.Flatten(name="flatten")(x) if x.shape[1] * x.shape[2] == 1
         else keras.layers.GlobalAveragePooling2D(name="pool")(x))
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"vgg11-{layers.tag}")
