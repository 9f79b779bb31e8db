"""Batch norm folded into a neighbouring linear layer, for tighter sound-mode Lipschitz constants.

At inference batch norm is y = g x + c with one g per channel: a diagonal map G. Diagonal maps commute, and the
Jacobian D of an elementwise activation is diagonal with |D| <= A, so for a linear layer K:
* BN after K (K, its activation, then BN):   J = G D K = D (G K)  ->  Lip <= A ||G K||  (g scales K's outputs);
* BN before K (BN, an activation layer, K):  J = K D G = (K G) D  ->  Lip <= A ||K G||  (g scales K's inputs).
||G K|| <= max |g| ||K||, the product of the two layers' separate constants, and is often much smaller (88x over the
19 conv-BN pairs of a ResNet-20 trained on digits). Each batch norm is folded at most once, only where the tensors in
between have no other reader; the rest keep `batch_norm_lipschitz`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import keras
import numpy as np
from keras import ops

from kerobust.bounds.lipschitz.activations import CONSTANTS, LIPSCHITZ_ONLY, activation_name
from kerobust.bounds.lipschitz.batch_norm import scale_of
from kerobust.bounds.lipschitz.pass_through import ACTIVATION_LAYERS
from kerobust.types import Array

LINEAR_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def inputs_of(layer: keras.layers.Layer) -> list[keras.KerasTensor]:
    """The tensors a layer reads, as a list."""
    inputs = layer.input
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


def _is_elementwise_activation(layer: keras.layers.Layer) -> bool:
    """Activation layers whose Jacobian is diagonal (the ones with a known Lipschitz constant are all elementwise)."""
    return isinstance(layer, ACTIVATION_LAYERS) and (
        not isinstance(layer, keras.layers.Activation)
        or activation_name(layer.activation) in {**CONSTANTS, **LIPSCHITZ_ONLY}
    )


def channels_last(layer: keras.layers.Layer) -> bool:
    """Whether a batch norm normalises, or a convolution holds, channels on the last axis."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, len(layer.input.shape) - 1)
    return getattr(layer, "data_format", "channels_last") == "channels_last"


def scaled_kernel(layer: keras.layers.Layer, output_scale: Array | None = None,
                  input_scale: Array | None = None) -> Array:
    """`layer`'s kernel with its output and / or input channels multiplied by per-channel scales (numpy, float64)."""
    kernel = np.asarray(ops.convert_to_numpy(layer.kernel), dtype="float64")
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # (kh, kw, C, multiplier): output c * multiplier + m
        if output_scale is not None:
            kernel = kernel * np.reshape(output_scale, kernel.shape[2:])
        if input_scale is not None:
            kernel = kernel * np.reshape(input_scale, (-1, 1))
        return kernel
    if output_scale is not None:
        kernel = kernel * output_scale
    if input_scale is not None:
        kernel = kernel * np.reshape(input_scale, (-1, 1))
    return kernel


def batch_norm_folds(layers: Sequence[keras.layers.Layer], other_readers: Iterable[keras.KerasTensor] = (),
                     ) -> tuple[dict[int, Array], set[int]]:
    """Where each foldable batch norm goes.

    Args:
        layers: the model's layers in graph order (as the evaluator walks them).
        other_readers: tensors read outside `layers` (the decision head's input).

    Returns:
        (kernels, folded): `kernels` maps id(linear layer) to its scaled kernel; `folded` holds the ids of the batch
        norm layers that are now inside a kernel (their own constant becomes 1).
    """
    readers: dict[int, list[keras.layers.Layer | None]]  # id(tensor) -> its readers (None: outside `layers`)
    producer: dict[int, keras.layers.Layer]  # id(tensor) -> the layer computing it
    readers, producer = {}, {}
    for layer in layers:
        for tensor in inputs_of(layer):
            readers.setdefault(id(tensor), []).append(layer)
        producer[id(layer.output)] = layer
    for tensor in other_readers:
        readers.setdefault(id(tensor), []).append(None)

    scales: dict[int, tuple[keras.layers.Layer, dict[str, Array]]]
    scales = {}  # id(linear layer) -> {"output_scale": g, "input_scale": g}
    folded = set()
    for bn in layers:
        if not isinstance(bn, keras.layers.BatchNormalization) or not channels_last(bn):
            continue
        g = np.asarray(ops.convert_to_numpy(scale_of(bn)), dtype="float64")
        target = _fold_target(bn, readers, producer, scales)
        if target is not None:
            layer, side = target
            scales.setdefault(id(layer), (layer, {}))[1][side] = g
            folded.add(id(bn))
    kernels = {key: scaled_kernel(layer, **sides) for key, (layer, sides) in scales.items()}
    return kernels, folded


def _fold_target(bn, readers, producer, scales):
    """(linear layer, "output_scale" or "input_scale") the batch norm can fold into, or None."""
    below = producer.get(id(bn.input))
    if (isinstance(below, LINEAR_LAYERS) and channels_last(below) and readers.get(id(bn.input)) == [bn]
            and "output_scale" not in scales.get(id(below), (None, {}))[1]):
        return below, "output_scale"
    tensor = bn.output
    above = readers.get(id(tensor), [])
    if len(above) == 1 and _is_elementwise_activation(above[0]):
        tensor = above[0].output
        above = readers.get(id(tensor), [])
    if len(above) != 1 or not isinstance(above[0], LINEAR_LAYERS) or not channels_last(above[0]):
        return None
    layer = above[0]
    if getattr(layer, "groups", 1) != 1 or "input_scale" in scales.get(id(layer), (None, {}))[1]:
        return None
    return layer, "input_scale"
