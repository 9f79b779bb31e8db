"""Seeds of kerobust's stateless random numbers (`kerobust.backend.uniform` / `normal`): int32 pairs, so that the same
pair draws the same numbers inside compiled functions on every backend."""

import keras


def seed_pair(base, counter):
    """An int32 seed pair `[base, counter]` for the stateless random functions."""
    base = keras.ops.cast(keras.ops.convert_to_tensor(base), "int32")
    counter = keras.ops.cast(keras.ops.convert_to_tensor(counter), "int32")
    return keras.ops.stack([base, counter])
