"""WideResNet-depth-k with pre-activation basic-wide blocks, with the four normalisation choices of
O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks".

Reference: Zagoruyko & Komodakis 2016, "Wide Residual Networks", Table 1 (groups of (depth - 4) / 6 blocks of
widths 16k, 32k, 64k, strides 1, 2, 2) and Fig. 1(d) (basic-wide block with dropout between the convolutions);
O'Hanlon (2021) section 4 (WRN-16-k, k = 1..5, vanilla / BN / ConvNorm / BN+ConvNorm).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.errors import KerobustError
from kerobust.models.conv_factory import NORMS, ConvFactory
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike

__all__ = ["NORMS", "wide_resnet"]


def _basic_wide_block(x, layers, filters, stride, dropout, name):
    pre = keras.layers.ReLU(name=f"{name}_relu1")(layers.batch_norm(f"{name}_norm1")(x))
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.conv(filters, 1, stride, name=f"{name}_shortcut")(pre)
    else:
        shortcut = x
    y = layers.conv(filters, 3, stride, name=f"{name}_conv1")(pre)
    y = keras.layers.ReLU(name=f"{name}_relu2")(layers.batch_norm(f"{name}_norm2")(y))
    if dropout > 0:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = layers.conv(filters, 3, 1, name=f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


@register("wrn")
def wide_resnet(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike, depth: int = 16,
                k: int = 1, norm: str = "bn", dropout: float = 0.0, input_noise: float = 0.0) -> keras.Model:
    """WideResNet-`depth`-`k` for images of any size >= 4x4 (8x8 digits as well as 32x32 CIFAR).

    Args:
        input_shape: (H, W, C) of [0, 1] images.
        num_classes: number of output logits.
        mean, std: per-channel statistics for the input normalisation layer.
        depth: 6n + 4 (16 gives two blocks per group).
        k: widening factor.
        norm: "none", "bn" (batch norm before every ReLU), "convnorm" (every convolution a ConvNorm) or
            "bn+convnorm" (ConvNorm with its built-in batch norm, replacing the blocks' own).
        dropout: dropout rate between the two convolutions of a block.
        input_noise: Gaussian noise (pixels) on the input, also at inference (Bigaud, Papereux & Rolland
            (2021), "Adversarial training for image classification", section 3.2.1).

    Returns:
        A functional `keras.Model` that outputs logits.
    """
    layers = ConvFactory(norm)
    if int(k) != k or k < 1:
        raise KerobustError(f"wrn needs an integer widening factor k >= 1, got {k!r}.")
    if depth < 10 or (depth - 4) % 6:
        raise KerobustError(f"wrn depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}.")
    require_input_size("wrn", input_shape, 4, "halves the image twice")
    if not 0.0 <= dropout < 1.0:
        raise KerobustError(f"dropout must be in [0, 1), got {dropout!r}.")
    blocks = (depth - 4) // 6
    inputs, x = image_input(input_shape, mean, std, input_noise)
    x = layers.conv(16, 3, 1, name="stem_conv")(x)
    for group, (width, stride) in enumerate(zip((16 * k, 32 * k, 64 * k), (1, 2, 2)), start=1):
        for block in range(blocks):
            x = _basic_wide_block(x, layers, width, stride if block == 0 else 1, dropout,
                                  f"group{group}_block{block + 1}")
    x = keras.layers.ReLU(name="final_relu")(layers.batch_norm("final_norm")(x))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"wrn-{depth}-{k}-{layers.tag}")
