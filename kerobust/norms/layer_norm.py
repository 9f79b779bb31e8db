"""A layer's l1 or l-inf operator norm as a differentiable function of its kernel, for regularisers.

Conv2D layers (plain, grouped, with parametric noise: the mean kernel) use their strides, padding, dilation and the
input size they see in the model; Dense layers need nothing more. Reference:
Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Theorem 1 eq. (1) and (2).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Sequence

import keras

from kerobust.catalog import NORM_DECAY_NORMS as NORMS
from kerobust.errors import KerobustError, unknown_name
from kerobust.norms.operator_norms import conv_l1_norm, conv_linf_norm, dense_l1_norm, dense_linf_norm
from kerobust.types import Tensor


def sublayers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """The model's layers in order, nested models unpacked."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from sublayers(layer)
        else:
            yield layer


def linear_layers(model: keras.Model, trainable_only: bool = False) -> list[keras.layers.Layer]:
    """The Conv2D and Dense layers of `model` (nested models included), in order; with `trainable_only`, those whose
    kernel training would change (the layers the norm regularisers act on and count)."""
    layers = [layer for layer in sublayers(model) if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    return [layer for layer in layers if layer.trainable and layer.kernel.trainable] if trainable_only else layers


def conv_input_size(layer: keras.layers.Layer) -> tuple[int, int]:
    """The (H, W) input size a Conv2D sees in its model."""
    if layer.data_format != "channels_last":
        raise KerobustError(f"layer {layer.name!r}: operator norms need channels_last convolutions.")
    try:
        shape = layer.input.shape
    except (AttributeError, ValueError) as error:
        raise KerobustError(
            f"layer {layer.name!r} has no known input size; call the model on an input (functional models know it)."
        ) from error
    if shape[1] is None or shape[2] is None:
        raise KerobustError(f"layer {layer.name!r} sees a variable input size {tuple(shape)}; "
                            "its norm needs a fixed one.")
    return int(shape[1]), int(shape[2])


def norm_function(norm: str, input_size: Sequence[int] | None = None, strides: int | Sequence[int] = 1,
                  padding: str | Sequence[tuple[int, int]] = "valid", dilation: int | Sequence[int] = 1,
                  groups: int = 1) -> Callable[[Tensor], Tensor]:
    """`fn(kernel) -> scalar`: the exact l1 or l-inf operator norm of a Conv2D with this geometry on `input_size`
    (H, W), or of a Dense layer when `input_size` is None."""
    if norm not in NORMS:
        raise unknown_name("norm", norm, NORMS)
    if input_size is None:
        return dense_l1_norm if norm == "l1" else dense_linf_norm
    geometry: dict[str, Any] = dict(input_size=tuple(input_size), strides=strides, padding=padding, dilation=dilation)
    if norm == "l1":
        return functools.partial(conv_l1_norm, groups=groups, **geometry)
    return functools.partial(conv_linf_norm, **geometry)


def layer_geometry(layer: keras.layers.Layer) -> dict[str, Any]:
    """The keyword arguments of `norm_function` that describe `layer`: a Conv2D's input size, strides, padding,
    dilation and groups; nothing for a Dense layer."""
    if isinstance(layer, keras.layers.Conv2D):
        return dict(input_size=conv_input_size(layer), strides=layer.strides, padding=layer.padding,
                    dilation=layer.dilation_rate, groups=layer.groups)
    if isinstance(layer, keras.layers.Dense):
        return {}
    raise KerobustError(f"layer {layer.name!r} ({type(layer).__name__}) has no kernel norm; Conv2D and Dense do.")


def kernel_norm(layer: keras.layers.Layer, norm: str) -> Callable[[Tensor], Tensor]:
    """`fn(kernel) -> scalar`: the layer's exact l1 or l-inf operator norm as a function of its kernel."""
    return norm_function(norm, **layer_geometry(layer))
