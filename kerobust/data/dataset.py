"""The in-memory dataset every kerobust command works on."""

from __future__ import annotations

import dataclasses

import numpy as np

from kerobust.data.threat_model import ThreatModel
from kerobust.errors import KerobustError
from kerobust.types import Array, ArrayLike


@dataclasses.dataclass
class Dataset:
    """Train / validation / test splits with float32 pixels in [0, 1] (NHWC) and integer labels.

    Args:
        name: dataset name as given to `load_dataset`.
        x_train, y_train, x_val, y_val, x_test, y_test: the splits.
        num_classes: number of classes.
        mean, std: per-channel pixel statistics of the training split (the model's first layer uses them).
        augmentation: "crop_flip" (random 4-pixel-padded crop and horizontal flip) or "none".
        threat_model: the dataset's standard threat model.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    mean: tuple
    std: tuple
    augmentation: str
    threat_model: ThreatModel

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def as_pixels(x: ArrayLike, source: str) -> Array:
    """Converts images to float32 NHWC in [0, 1]; rejects NaN, infinities and values outside the range.

    Integer images are divided by 255; float images must already lie in [0, 1]. Grey images without a channel
    axis (N, H, W) get one.
    """
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise KerobustError(f"{source}: images must have shape (N, H, W) or (N, H, W, C), got {x.shape}.")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype("float32") / 255.0
    x = x.astype("float32")
    if not np.all(np.isfinite(x)):
        raise KerobustError(f"{source}: images contain {int(np.sum(~np.isfinite(x)))} NaN or infinite values.")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise KerobustError(
            f"{source}: float pixels must lie in [0, 1], got [{x.min():g}, {x.max():g}] (scale them, or pass uint8)."
        )
    return x


def as_labels(y: ArrayLike, source: str) -> Array:
    """Integer class ids of shape (N,); rejects NaN and negative or fractional labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise KerobustError(f"{source}: labels must be class ids of shape (N,), got {y.shape}.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise KerobustError(f"{source}: labels must be whole class ids, found NaN or fractional values.")
    y = y.astype("int64")
    if y.size and y.min() < 0:
        raise KerobustError(f"{source}: labels must be >= 0, found {y.min()}.")
    return y


def channel_stats(x: Array) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of NHWC images."""
    mean = x.mean(axis=(0, 1, 2))
    std = np.maximum(x.std(axis=(0, 1, 2)), 1e-3)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
