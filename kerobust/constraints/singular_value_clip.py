"""Singular value clipping of Conv2D kernels: every singular value of the layer's circular operator at most c.

Reference: Sedghi, Gupta & Long 2019, "The Singular Values of Convolutional Layers", section 4 (clip the SVD of each
frequency's Cin x Cout block of the kernel's 2-D FFT, invert, crop back to k x k); used as "SVC" in Table 2 of
Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", with c in {0.5, 1, 1.5, 2},
every 100 steps.

The crop makes one clip an approximate projection: on random 3x3 kernels the top singular value after it is about
1.37 c (1.06 c after six repeats). With `exact=True` (default) the cropped kernel is then scaled by
min(1, c / sigma_max), so the top singular value is at most c up to float32 rounding (1e-5 relative); `exact=False`
is Sedghi's clip alone.

Which operator: by default (`operator="circular"`) the stride-1 circular convolution on the layer's input size, as in
Sedghi et al. and Liang & Huang (2021). That bounds a `valid` layer (its rows are rows of the circular operator) but
not a zero-padded one: a `same` layer sees the circular operator on its padded size (H + pad, W + pad), whose spectrum
is sampled at other frequencies (a 3x3 kernel on a 3x3 input clipped to 1 on the 3x3 grid gives its `same` layer a
norm of 1.39). `operator="layer"` clips on the padded grid instead, which bounds the layer itself: the layer is the
padded circular operator restricted to the real inputs and the kept outputs, and striding only drops rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras
from keras import ops

from kerobust import backend
from kerobust.catalog import SVC_OPERATORS as OPERATORS
from kerobust.errors import KerobustError, unknown_name
from kerobust.layers.conv_geometry import padded_size
from kerobust.norms.layer_norm import conv_input_size, sublayers
from kerobust.types import Tensor


def _grid(kernel_shape, input_size):
    """The FFT grid: the input size, at least the kernel's size on each axis."""
    return tuple(max(int(n), int(k)) for n, k in zip(input_size, kernel_shape[:2]))


def clip_singular_values(kernel: Tensor, input_size: Sequence[int], limit: float, exact: bool = True) -> Tensor:
    """Clips the singular values of the circular convolution of `kernel` (kh, kw, Cin, Cout) on `input_size` (H, W)
    to `limit`; returns the new kernel (same shape). See the module docstring for `exact`."""
    size = _grid(kernel.shape, input_size)
    clipped = backend.clip_circular_spectrum(kernel, size, limit)
    if exact:
        top = backend.circular_top_singular_value(clipped, size)
        clipped = clipped * ops.minimum(1.0, limit / ops.maximum(top, 1e-12))
    return ops.cast(clipped, kernel.dtype)


def clip_grid(layer: keras.layers.Conv2D, operator: str = "circular") -> tuple[int, ...]:
    """The grid (H, W) on which to clip a Conv2D: its input size ("circular") or its zero-padded input size
    ("layer"; see the module docstring)."""
    if operator not in OPERATORS:
        raise unknown_name("clipping operator", operator, OPERATORS)
    size = conv_input_size(layer)
    if operator == "circular":
        return size
    return padded_size(size, layer.kernel.shape[:2], layer.strides, layer.padding)


def check_limit(limit: float) -> float:
    """`limit` as a float, refused unless > 0."""
    if not float(limit) > 0:
        raise KerobustError(f"singular value limit must be > 0, got {limit!r}.")
    return float(limit)


@keras.saving.register_keras_serializable(package="kerobust")
class SingularValueClip(keras.constraints.Constraint):
    """Keras constraint: after each optimizer step, clips the kernel's circular-operator singular values to `limit`.

    Args:
        limit: the largest singular value allowed (c).
        input_size: (H, W) the conv sees.
        exact: rescale after the crop so the bound holds (see the module docstring).
    """

    def __init__(self, limit: float, input_size: Sequence[int], exact: bool = True):
        self.limit = check_limit(limit)
        self.input_size = tuple(int(s) for s in input_size)
        self.exact = bool(exact)

    def __call__(self, kernel: Tensor) -> Tensor:
        return clip_singular_values(kernel, self.input_size, self.limit, self.exact)

    def get_config(self) -> dict[str, Any]:
        return {"limit": self.limit, "input_size": self.input_size, "exact": self.exact}


def clippable_convs(model: keras.Model) -> list[keras.layers.Conv2D]:
    """The model's Conv2D layers (nested models included); grouped or dilated ones raise (their circular operator is
    not the kernel's plain 2-D FFT)."""
    layers = [layer for layer in sublayers(model) if isinstance(layer, keras.layers.Conv2D)]
    for layer in layers:
        if layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1):
            raise KerobustError(
                f"singular value clipping supports plain Conv2D layers; {layer.name!r} has groups={layer.groups}, "
                f"dilation={tuple(layer.dilation_rate)}."
            )
    if not layers:
        raise KerobustError(f"model {model.name!r} has no Conv2D layer to clip.")
    return layers


def clip_plan(model: keras.Model, operator: str = "circular") -> list[tuple[keras.layers.Conv2D, tuple[int, ...]]]:
    """`[(layer, grid)]`: every clippable Conv2D of `model` with the grid it is clipped on (refuses unsupported
    layers); work it out once for repeated clips (`clip_layers`)."""
    return [(layer, clip_grid(layer, operator)) for layer in clippable_convs(model)]


def clip_layers(plan: Iterable[tuple[keras.layers.Conv2D, Sequence[int]]], limit: float, exact: bool = True) -> None:
    """Clips the kernel of every `(layer, grid)` in `plan` once, in place."""
    limit = check_limit(limit)
    for layer, grid in plan:
        layer.kernel.assign(clip_singular_values(layer.kernel, grid, limit, exact))


def clip_model(model: keras.Model, limit: float, exact: bool = True, operator: str = "circular") -> None:
    """Clips every Conv2D kernel of `model` once, in place."""
    clip_layers(clip_plan(model, operator), limit, exact)


def add_singular_value_constraints(model: keras.Model, limit: float, exact: bool = True,
                                   operator: str = "circular") -> int:
    """Puts a `SingularValueClip` on every Conv2D kernel of a built model (applied after every optimizer step, and
    kept in the layer's config); returns the number of constrained layers."""
    layers = clippable_convs(model)
    for layer in layers:
        constraint = SingularValueClip(limit, clip_grid(layer, operator), exact)
        layer.kernel_constraint = constraint
        layer.kernel.constraint = constraint
    return len(layers)
