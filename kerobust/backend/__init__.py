"""Backend-specific plumbing: the only package in kerobust that imports tensorflow or jax.

Everything else is written with `keras.ops` and reaches the backend through these names:

* `uniform(shape, seed, minval, maxval)` and `normal(shape, seed)`: stateless random numbers from an int32 seed
  pair, usable inside compiled functions on every backend.
* `compile_attack(model, perturb, loss_fn)`: compiles `perturb(grad_fn, x, y, seed)` for `model`, where
  `grad_fn(x, y)` is the input gradient of `loss_fn(y, model(x, training=False))` (summed over the batch).
* `AdversarialTrainStep`: the `train_step` override used by `kerobust.training.AdversarialModel`.
* `jit_compile_default()`: the `jit_compile` value for `Model.compile` (XLA where available).
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from kerobust.backend.tensorflow_backend import (  # noqa: F401
        AdversarialTrainStep,
        compile_attack,
        normal,
        uniform,
    )
elif _BACKEND == "jax":
    from kerobust.backend.jax_backend import (  # noqa: F401
        AdversarialTrainStep,
        compile_attack,
        normal,
        uniform,
    )
else:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"kerobust supports the 'tensorflow' and 'jax' Keras backends; KERAS_BACKEND is {_BACKEND!r}."
    )


def name():
    """The active Keras backend's name."""
    return _BACKEND


def jit_compile_default():
    """XLA compilation for `Model.compile`: on for both supported backends."""
    return True


def seed_pair(base, counter):
    """An int32 seed pair `[base, counter]` for the stateless random functions."""
    base = keras.ops.cast(keras.ops.convert_to_tensor(base), "int32")
    counter = keras.ops.cast(keras.ops.convert_to_tensor(counter), "int32")
    return keras.ops.stack([base, counter])
