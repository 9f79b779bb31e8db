"""Seeds of kerobust's stateless random numbers (`kerobust.backend.uniform` / `normal`): int32 pairs, so that the same
pair draws the same numbers inside compiled functions on every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from kerobust.types import Tensor


def seed_pair(base: int | Tensor, counter: int | Tensor) -> Tensor:
    """An int32 seed pair `[base, counter]` for the stateless random functions."""
    base = keras.ops.cast(keras.ops.convert_to_tensor(base), "int32")
    counter = keras.ops.cast(keras.ops.convert_to_tensor(counter), "int32")
    return keras.ops.stack([base, counter])
