"""Shuffled mini-batches with the dataset's augmentation, as a backend-neutral `keras.utils.PyDataset`."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from kerobust.types import Array


def batches_per_epoch(examples: int, batch_size: int, full_batches: bool = False) -> int:
    """Batches in an epoch: every example (the last batch partial), or only full batches (at least one)."""
    count = examples / batch_size
    return max(1, math.floor(count)) if full_batches else math.ceil(count)


def crop_flip(images: Array, rng: np.random.Generator, pad: int = 4) -> Array:
    """Random crop after zero-padding by `pad` pixels, and random horizontal flip (standard CIFAR augmentation)."""
    n: int  # (numpy types shapes as Any, which would pick `integers`' scalar overload below)
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = rng.integers(0, 2 * pad + 1, n)
    cols = rng.integers(0, 2 * pad + 1, n)
    out = np.stack([padded[i, r:r + h, c:c + w] for i, (r, c) in enumerate(zip(rows, cols))])
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


class TrainingBatches(keras.utils.PyDataset):
    """Reshuffles every epoch and augments on the fly, each from its own seeded stream.

    Epoch e's order comes from the seed `(seed, e)` and batch i's augmentation from `(seed, e, i)`, so a run resumed
    at epoch e (`epoch=e`) sees exactly the batches of the uninterrupted run, whatever order batches are fetched in.

    Args:
        x, y: training images and labels.
        batch_size: images per batch.
        augmentation: "none" or "crop_flip".
        seed: seed of the shuffling and augmentation streams.
        full_batches: drop the last partial batch (keeps batch shapes fixed).
        epoch: the epoch the first pass is (0, or the epoch a resumed run starts at).
    """

    def __init__(self, x: Array, y: Array, batch_size: int, augmentation: str = "none", seed: int = 0,
                 full_batches: bool = False, epoch: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.full_batches = full_batches
        self.seed = int(seed)
        self.epoch = int(epoch)
        self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(x))

    def __len__(self) -> int:
        return batches_per_epoch(len(self.x), self.batch_size, self.full_batches)

    def __getitem__(self, index: int) -> tuple[Array, Array]:
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.x[rows]
        if self.augmentation == "crop_flip":
            images = crop_flip(images, np.random.default_rng([self.seed, self.epoch, index]))
        return images, self.y[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.x))
