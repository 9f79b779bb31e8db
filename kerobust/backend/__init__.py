"""Backend-specific plumbing: the code that differs between TensorFlow and JAX.

Everything else is written with `keras.ops` and reaches the backend through these names. Outside this package,
TensorFlow is imported only for services Keras does not wrap, deferred into the function that uses them:
`tf.summary` (callbacks/dashboard.py, callbacks/hparams.py), SavedModel signatures (export/saved_model.py),
`tf.distribute` (distribution.py) and tensorflow_datasets (data/tfds_source.py); `tests/test_framework_imports.py`
keeps it so.

* `uniform(shape, seed, minval, maxval)` and `normal(shape, seed)`: stateless random numbers from an int32 seed
  pair, usable inside compiled functions on every backend.
* `compile_attack(model, perturb, loss_fn, per_point=True)`: compiles `perturb(oracle, x, y, seed)` for `model`, where
  the `Oracle`'s `gradient(x, y)` is the input gradient of `loss_fn(y, model(x, training=False))` (summed over the
  batch), `logits(x)` is `model(x, training=False)` and `logits_and_gradient(x, y)` gives both from one pass.
* the three primitives of the adversarial training step (`kerobust.training.adversarial_step`, written once):
  `training_oracle(model, loss_fn)`, the `Oracle` of the model's current weights in inference mode,
  `loss_and_gradients(model, x_of, extra, y, sample_weight)`, the training loss and its gradients, and
  `apply_gradients(model, grads)`, the optimizer step.
* `grouped_conv(inputs, kernel, strides, padding, bias=None)`: a channels-last convolution whose kernel may hold fewer
  input channels than `inputs` (grouped), without Keras's forced XLA path on TensorFlow CPU.
* `spectral_filter(z, v)`: filters each channel of a channels-last batch circularly by a real half-spectrum
  (`irfft2(rfft2(z) * v)`), the core of ConvNorm.
* `compile_function(fn, xla, per_point)`: `fn` of tensors compiled as a graph, with XLA if `xla` (the bound
  evaluators); its first `per_point` arguments are sharded over the devices inside
  `kerobust.sharding.sharding_points`, as are `compile_attack`'s and `compile_predict(model)`'s (the model's
  inference-mode outputs), by `shard_points(fn, per_point, seed_index)`.
* `supports_float64()`: whether float64 computations really run in float64 (JAX needs `JAX_ENABLE_X64=1`).
* `gradient(fn, x)`: the gradient of a scalar function of one tensor (norm decay's subgradients).
* `clip_circular_spectrum(kernel, size, limit)`: singular value clipping of a kernel's circular convolution
  (per-frequency SVD of its 2-D FFT), cropped back to the kernel's size; `circular_top_singular_value(kernel,
  size)`: that operator's l2 norm.
* `replicas_in_sync()`: the replica count of the `tf.distribute` strategy in force (1 on JAX and outside one).
* `use_xla(setting)`: whether "auto" / "on" / "off" means XLA compilation for `Model.compile` and attacks.
"""

from __future__ import annotations

import keras

from kerobust.catalog import JIT_SETTINGS

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from kerobust.backend.tensorflow_backend import (  # noqa: F401
        apply_gradients,
        circular_top_singular_value,
        clip_circular_spectrum,
        compile_attack,
        compile_function,
        compile_predict,
        gradient,
        grouped_conv,
        has_gpu,
        loss_and_gradients,
        normal,
        replicas_in_sync,
        shard_points,
        spectral_filter,
        supports_float64,
        training_oracle,
        uniform,
    )
elif _BACKEND == "jax":
    from kerobust.backend.jax_backend import (  # type: ignore[assignment]  # noqa: F401
        apply_gradients,
        circular_top_singular_value,
        clip_circular_spectrum,
        compile_attack,
        compile_function,
        compile_predict,
        gradient,
        grouped_conv,
        has_gpu,
        loss_and_gradients,
        normal,
        replicas_in_sync,
        shard_points,
        spectral_filter,
        supports_float64,
        training_oracle,
        uniform,
    )
else:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"kerobust supports the 'tensorflow' and 'jax' Keras backends; KERAS_BACKEND is {_BACKEND!r}."
    )


def name() -> str:
    """The active Keras backend's name."""
    return _BACKEND


def use_xla(setting: str = "auto") -> bool:
    """Whether to compile with XLA.

    "auto": always on JAX (jax.jit is XLA); on TensorFlow only with a GPU, because on CPU TensorFlow's XLA runs
    an attack's while-loop of gradients about 8x slower than a plain graph (measured: PGD-10 on WRN-16-1,
    batch 128, 32x32: 8.7 s with XLA, 0.89 s without). "on" / "off" force it (JAX is always compiled).
    """
    if setting not in JIT_SETTINGS:
        raise ValueError(f"jit setting must be one of {JIT_SETTINGS}, got {setting!r}")
    if _BACKEND == "jax" or setting == "on":
        return True
    if setting == "off":
        return False
    return has_gpu()
