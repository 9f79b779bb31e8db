"""WideResNet-depth-k with pre-activation basic-wide blocks.

Reference: Zagoruyko & Komodakis 2016, "Wide Residual Networks", Table 1 (groups of (depth - 4) / 6 blocks of
widths 16k, 32k, 64k, strides 1, 2, 2) and Fig. 1(d) (basic-wide block with dropout between the convolutions);
used by seed 000 section 4 (WRN-16-k, k = 1..5).
"""

import keras

from kerobust.errors import KerobustError, unknown_name
from kerobust.models.input_normalization import input_normalization
from kerobust.models.registry import register

NORMS = ("none", "bn")


def _norm(kind, name):
    if kind == "bn":
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)
    return keras.layers.Identity(name=name)


def _conv(filters, kernel, stride, use_bias, name):
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=use_bias, kernel_initializer="he_normal", name=name
    )


def _basic_wide_block(x, filters, stride, norm, dropout, name):
    use_bias = norm == "none"
    pre = keras.layers.ReLU(name=f"{name}_relu1")(_norm(norm, f"{name}_norm1")(x))
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(filters, 1, stride, use_bias, f"{name}_shortcut")(pre)
    else:
        shortcut = x
    y = _conv(filters, 3, stride, use_bias, f"{name}_conv1")(pre)
    y = keras.layers.ReLU(name=f"{name}_relu2")(_norm(norm, f"{name}_norm2")(y))
    if dropout > 0:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = _conv(filters, 3, 1, use_bias, f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


@register("wrn")
def wide_resnet(input_shape, num_classes, mean, std, depth=16, k=1, norm="bn", dropout=0.0):
    """WideResNet-`depth`-`k` for images of any size >= 4x4 (8x8 digits as well as 32x32 CIFAR).

    Args:
        input_shape: (H, W, C) of [0, 1] images.
        num_classes: number of output logits.
        mean, std: per-channel statistics for the input normalisation layer.
        depth: 6n + 4 (16 gives two blocks per group).
        k: widening factor.
        norm: "none" or "bn" (batch normalisation before every ReLU).
        dropout: dropout rate between the two convolutions of a block.

    Returns:
        A functional `keras.Model` that outputs logits.
    """
    if norm not in NORMS:
        raise unknown_name("norm for wrn", norm, NORMS)
    if int(k) != k or k < 1:
        raise KerobustError(f"wrn needs an integer widening factor k >= 1, got {k!r}.")
    if depth < 10 or (depth - 4) % 6:
        raise KerobustError(f"wrn depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {depth!r}.")
    if min(input_shape[:2]) < 4:
        raise KerobustError(f"wrn halves the image twice and needs inputs of at least 4x4, got {input_shape}.")
    if not 0.0 <= dropout < 1.0:
        raise KerobustError(f"dropout must be in [0, 1), got {dropout!r}.")
    blocks = (depth - 4) // 6
    inputs = keras.Input(input_shape, name="image")
    x = input_normalization(mean, std)(inputs)
    x = _conv(16, 3, 1, norm == "none", "stem_conv")(x)
    for group, (width, stride) in enumerate(zip((16 * k, 32 * k, 64 * k), (1, 2, 2)), start=1):
        for block in range(blocks):
            x = _basic_wide_block(x, width, stride if block == 0 else 1, norm, dropout, f"group{group}_block{block + 1}")
    x = keras.layers.ReLU(name="final_relu")(_norm(norm, "final_norm")(x))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"wrn-{depth}-{k}-{norm}")
