"""JAX implementation of kerobust's backend plumbing (`jax.grad` over `stateless_call`, `jax.jit`)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import keras

from kerobust.backend.oracle import Oracle
from kerobust.sharding import point_sharding
from kerobust.types import ArrayLike, LossFn, Tensor


def _key(seed):
    key = jax.random.PRNGKey(0)
    return jax.random.fold_in(jax.random.fold_in(key, seed[0]), seed[1])


def uniform(shape: Sequence[int | Tensor], seed: Tensor, minval: float = 0.0, maxval: float = 1.0,
            dtype: str = "float32") -> Tensor:
    """Stateless uniform noise from an int32 seed pair."""
    return jax.random.uniform(_key(seed), tuple(shape), dtype=dtype, minval=minval, maxval=maxval)


def normal(shape: Sequence[int | Tensor], seed: Tensor, dtype: str = "float32") -> Tensor:
    """Stateless standard normal noise from an int32 seed pair."""
    return jax.random.normal(_key(seed), tuple(shape), dtype=dtype)


_DRAW_STRIDE = 1_000_003  # spreads the seeds of draws 1, 2, ... far from one another and from other layers' seeds


def _noise_state_indices(model):
    return [i for i, v in enumerate(model.non_trainable_variables) if v.path.endswith("noise_state")]


def _oracle(model, trainable, non_trainable, loss_fn):
    noise_states = _noise_state_indices(model)

    def logits(x, non_trainable=non_trainable):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return outputs

    def drawn(draw):
        """The variables with every noise layer's seed moved to draw `draw` (0: the current state)."""
        if not noise_states:
            return non_trainable
        moved = list(non_trainable)
        offset = jnp.stack([jnp.asarray(draw, "int32") * _DRAW_STRIDE, jnp.int32(0)])
        for i in noise_states:
            moved[i] = moved[i] + offset
        return moved

    def gradient(x, y, draw=0):
        return jax.grad(lambda x: loss_fn(y, logits(x, drawn(draw))))(x)

    def logits_and_gradient(x, y, draw=0):
        def loss_and_outputs(x):
            outputs = logits(x, drawn(draw))
            return loss_fn(y, outputs), outputs

        (_, outputs), grad = jax.value_and_grad(loss_and_outputs, has_aux=True)(x)
        return outputs, grad

    return Oracle(
        gradient=gradient, logits=logits, losses=lambda x, y: loss_fn(y, logits(x), per_sample=True), loss=loss_fn,
        logits_and_gradient=logits_and_gradient,
    )


def replicas_in_sync() -> int:
    """1: `keras.distribution` on JAX shards global arrays and does not split the loss per replica."""
    return 1


def grouped_conv(inputs: Tensor, kernel: Tensor, strides: int | Sequence[int], padding: str,
                 bias: Tensor | None = None) -> Tensor:
    """`keras.ops.conv` (grouped through `feature_group_count`), plus `bias` per output channel."""
    outputs = keras.ops.conv(inputs, kernel, strides=strides, padding=padding)
    return outputs if bias is None else outputs + keras.ops.cast(bias, outputs.dtype)


def spectral_filter(z: Tensor, v: Tensor) -> Tensor:
    """Filters each channel of `z` (N, H, W, C) circularly by the real half-spectrum `v` (C, H, W // 2 + 1):
    irfft2(rfft2(z) * v) over H and W."""
    height, width = z.shape[1], z.shape[2]
    spectrum = jnp.fft.rfft2(z, axes=(1, 2))
    return jnp.fft.irfft2(spectrum * jnp.transpose(v, (1, 2, 0)), s=(height, width), axes=(1, 2)).astype(z.dtype)


def gradient(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of the scalar `fn(x)` with respect to the array `x`."""
    return jax.grad(fn)(jnp.asarray(x))


def _circular_blocks(kernel, size):
    """The kernel's per-frequency matrices (H, W // 2 + 1, Cin, Cout) (half spectrum, as on TensorFlow)."""
    return jnp.fft.rfft2(jnp.asarray(kernel, jnp.float32), s=tuple(size), axes=(0, 1))


def circular_top_singular_value(kernel: Tensor, size: Sequence[int]) -> Tensor:
    """The largest singular value of the stride-1 circular convolution of `kernel` (kh, kw, Cin, Cout) on `size`."""
    return jnp.max(jnp.linalg.svd(_circular_blocks(kernel, size), compute_uv=False))


def clip_circular_spectrum(kernel: Tensor, size: Sequence[int], limit: float) -> Tensor:
    """Clips every per-frequency singular value to `limit`; the inverse transform cropped to (kh, kw)."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    left, singular, right = jnp.linalg.svd(_circular_blocks(kernel, size), full_matrices=False)
    blocks = (left * jnp.minimum(singular, limit)[..., None, :]) @ right
    return jnp.fft.irfft2(blocks, s=tuple(size), axes=(0, 1))[:kh, :kw].astype(jnp.float32)


def compile_function(fn: Callable[..., Any], xla: bool = True, per_point: int | None = None) -> Callable[..., Any]:
    """`fn` compiled with `jax.jit` (always XLA; the model's weights enter as constants); with `per_point` k, its
    first k arguments hold one row per point and are sharded inside `kerobust.sharding.sharding_points`."""
    compiled = jax.jit(fn)
    return compiled if per_point is None else shard_points(compiled, per_point)


def shard_points(fn: Callable[..., Any], per_point: int, seed_index: int | None = None) -> Callable[..., Any]:
    """`fn(*args)` whose first `per_point` arguments hold one row per point (and whose outputs do too), called inside
    `kerobust.sharding.sharding_points` with those arguments split over the devices of Keras's `DataParallel`
    distribution (padded to a multiple of the device count by repeating the last row, the outputs cropped back).
    `jax.jit` then runs one program over the whole batch, so the results equal one device's when no padding is
    needed, random numbers included; the seed stays as it is (`seed_index` is for TensorFlow's per-replica runs)."""
    def run(*args):
        distribution = point_sharding()
        if distribution is None:
            return fn(*args)
        layout = keras.distribution.distribution()
        points = len(args[0])
        rows = -(-points // distribution.replicas) * distribution.replicas
        sharded = []
        for array in args[:per_point]:
            array = jnp.asarray(array)
            if rows > points:
                array = jnp.concatenate([array, jnp.repeat(array[-1:], rows - points, axis=0)])
            sharded.append(jax.device_put(array, layout.get_data_layout(array.shape).backend_layout))
        outputs = fn(*sharded, *args[per_point:])
        return jax.tree_util.tree_map(lambda output: output[:points], outputs)

    return run


def supports_float64() -> bool:
    """Whether JAX runs in 64-bit mode (otherwise it silently computes float64 arrays in float32)."""
    return bool(jax.config.jax_enable_x64)  # type: ignore[attr-defined]  # a flag read as an attribute, untyped


def has_gpu() -> bool:
    """Whether JAX's default backend is a GPU."""
    return jax.default_backend() == "gpu"


def compile_attack(model: keras.Model, perturb: Callable[[Oracle, Tensor, Tensor, Tensor], Any], loss_fn: LossFn,
                   xla: bool | None = True, per_point: bool = True) -> Callable[[ArrayLike, ArrayLike, ArrayLike], Any]:
    """Compiles `perturb(oracle, x, y, seed)` for `model` with `jax.jit`; returns `run(x, y, seed)`, sharded inside
    `sharding_points` when `per_point` (as on TensorFlow)."""

    @jax.jit
    def run_stateless(trainable, non_trainable, x, y, seed):
        return perturb(_oracle(model, trainable, non_trainable, loss_fn), x, y, seed)

    def run(x, y, seed):
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return run_stateless(trainable, non_trainable, jnp.asarray(x), jnp.asarray(y), jnp.asarray(seed))

    return shard_points(run, 2, seed_index=2) if per_point else run


def compile_predict(model: keras.Model) -> Callable[[ArrayLike], Tensor]:
    """`model(x, training=False)` by `stateless_call` under `jax.jit`, sharded inside
    `kerobust.sharding.sharding_points`."""

    @jax.jit
    def logits(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    return shard_points(lambda x: logits(_values(model.trainable_variables), _values(model.non_trainable_variables),
                                         jnp.asarray(x)), 1)


def _values(variables):
    return [v.value for v in variables]  # inside a StatelessScope: the scope's current values


def training_oracle(model: keras.Model, loss_fn: LossFn) -> Oracle:
    """The `Oracle` of `model` with its current weights (inside the step's StatelessScope), in inference mode."""
    return _oracle(model, _values(model.trainable_variables), _values(model.non_trainable_variables), loss_fn)


def loss_and_gradients(model: keras.Model, x_of: Callable[[Tensor | None], Tensor], extra: Tensor | None, y: Tensor,
                       sample_weight: Tensor | None) -> tuple[Tensor, Tensor, list[Tensor], Tensor | None]:
    """`(loss, y_pred, weight_grads, extra_grad)` of `model`'s training loss on `x_of(extra)` (training mode), by
    `jax.value_and_grad` over `compute_loss_and_updates`; the forward pass's variable updates (batch-norm statistics,
    norm decay's moving averages, noise states) are assigned back, so the enclosing StatelessScope collects them."""
    non_trainable = _values(model.non_trainable_variables)
    metrics = _values(model.metrics_variables)
    optimizer = _values(model.optimizer.variables)

    def loss_of(trainable, extra):
        return model.compute_loss_and_updates(trainable, non_trainable, metrics, x_of(extra), y, sample_weight,
                                              training=True, optimizer_variables=optimizer)

    (_, aux), (grads, extra_grad) = jax.value_and_grad(loss_of, argnums=(0, 1), has_aux=True)(
        _values(model.trainable_variables), extra
    )
    loss, y_pred, non_trainable, metrics = aux
    for variable, value in zip(model.non_trainable_variables, non_trainable):
        variable.assign(value)
    for variable, value in zip(model.metrics_variables, metrics):
        variable.assign(value)
    return loss, y_pred, grads, extra_grad


def apply_gradients(model: keras.Model, grads: Sequence[Tensor]) -> None:
    """One optimizer step by `optimizer.stateless_apply` (loss scaling's own stateless path), its results assigned in
    the enclosing StatelessScope."""
    optimizer = model.optimizer
    trainable, optimizer_values = optimizer.stateless_apply(
        _values(optimizer.variables), grads, _values(model.trainable_variables)
    )
    for variable, value in zip(model.trainable_variables, trainable):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, optimizer_values):
        variable.assign(value)
