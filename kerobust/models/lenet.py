"""LeNet-5 as Peck (2017), "Robustness of Classifiers to Adversarial Perturbations", tested it (Caffe's MNIST
LeNet), and its three local-response-normalisation variants.

Reference: LeCun et al. 1998; the Caffe example network Peck (2017) section 5.1.1 uses: conv 20 5x5 - max pool 2 -
conv 50 5x5 - max pool 2 - dense 500 - ReLU - dense 10 (no activation after the convolutions, as in Caffe's
`lenet_train_test.prototxt`). Peck (2017) section 6.1: LeNet-LRN1 adds an LRN after the first pooling, LeNet-LRN2 after
the second, LeNet-LRN3 after both.

LRN hyperparameters: the thesis gives none and built its variants in Caffe, so the defaults are Caffe's LRN defaults
(local_size 5, alpha 1, beta 0.75, k 1) written in the thesis's formula, where Caffe's alpha / n becomes alpha = 0.2.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerobust.layers import LocalResponseNormalization
from kerobust.models.input_normalization import image_input, require_input_size
from kerobust.models.registry import register
from kerobust.types import ArrayLike

CAFFE_LRN = dict(k=1.0, n=5, alpha=0.2, beta=0.75)


def _lenet(input_shape, num_classes, mean, std, lrn_after, input_noise, name):
    require_input_size(name, input_shape, 4, "pools twice")
    # The 5x5 convolutions are `valid` on MNIST-sized inputs; below 16x16 (8x8 digits) they pad (`same`) instead,
    # since two valid 5x5 convolutions and two poolings need at least 16x16.
    padding = "valid" if min(input_shape[:2]) >= 16 else "same"
    inputs, x = image_input(input_shape, mean, std, input_noise)
    for stage, filters in enumerate((20, 50), start=1):
        x = keras.layers.Conv2D(filters, 5, padding=padding, name=f"conv{stage}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        if stage in lrn_after:
            x = LocalResponseNormalization(**CAFFE_LRN, name=f"lrn{stage}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(500, activation="relu", name="dense")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@register("lenet5")
def lenet5(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
           input_noise: float = 0.0) -> keras.Model:
    """LeNet-5 (Caffe form), Peck (2017) section 5.1.1."""
    return _lenet(input_shape, num_classes, mean, std, (), input_noise, "lenet5")


@register("lenet5_lrn1")
def lenet5_lrn1(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
                input_noise: float = 0.0) -> keras.Model:
    """LeNet-LRN1: LeNet-5 with an LRN layer after the first pooling (Peck (2017) section 6.1)."""
    return _lenet(input_shape, num_classes, mean, std, (1,), input_noise, "lenet5_lrn1")


@register("lenet5_lrn2")
def lenet5_lrn2(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
                input_noise: float = 0.0) -> keras.Model:
    """LeNet-LRN2: LeNet-5 with an LRN layer after the second pooling (Peck (2017) section 6.1)."""
    return _lenet(input_shape, num_classes, mean, std, (2,), input_noise, "lenet5_lrn2")


@register("lenet5_lrn3")
def lenet5_lrn3(input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
                input_noise: float = 0.0) -> keras.Model:
    """LeNet-LRN3: LeNet-5 with LRN layers after both poolings (Peck (2017) section 6.1)."""
    return _lenet(input_shape, num_classes, mean, std, (1, 2), input_noise, "lenet5_lrn3")
