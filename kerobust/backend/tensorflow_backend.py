"""TensorFlow implementation of kerobust's backend plumbing (GradientTape, `tf.function(jit_compile=True)`)."""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from kerobust.backend.oracle import Oracle
from kerobust.sharding import point_sharding
from kerobust.types import ArrayLike, LossFn, Tensor


class _QuietRetracing(logging.Filter):
    """Drops TensorFlow's retracing warning: kerobust compiles one function per attack and model on purpose (an
    evaluation with several attacks and the masking probe compiles a dozen), which TensorFlow mistakes for retracing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_QuietRetracing())


def _dynamic_shape(shape):
    if len(shape) == 0:
        return tf.constant([], tf.int32)
    return tf.stack([tf.cast(d, tf.int32) for d in shape])


def uniform(shape: Sequence[int | Tensor], seed: Tensor, minval: float = 0.0, maxval: float = 1.0,
            dtype: str = "float32") -> Tensor:
    """Stateless uniform noise from an int32 seed pair; `shape` may hold dynamic dimensions."""
    shape = _dynamic_shape(shape)
    return tf.random.stateless_uniform(shape, seed=seed, minval=minval, maxval=maxval, dtype=dtype)


def normal(shape: Sequence[int | Tensor], seed: Tensor, dtype: str = "float32") -> Tensor:
    """Stateless standard normal noise from an int32 seed pair; `shape` may hold dynamic dimensions."""
    shape = _dynamic_shape(shape)
    return tf.random.stateless_normal(shape, seed=seed, dtype=dtype)


def _oracle(model, loss_fn, training=False):
    def logits_and_gradient(x, y, draw=0):
        # Noise layers advance their state variables on every call, so each call (any `draw`) sees fresh noise.
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = model(x, training=training)
            loss = loss_fn(y, outputs)
        # A model that cuts the gradient path (e.g. rounding its input) has a zero gradient, not None.
        return outputs, tape.gradient(loss, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    return Oracle(
        gradient=lambda x, y, draw=0: logits_and_gradient(x, y, draw)[1], logits=lambda x: model(x, training=training),
        losses=lambda x, y: loss_fn(y, model(x, training=training), per_sample=True), loss=loss_fn,
        logits_and_gradient=logits_and_gradient,
    )


def replicas_in_sync() -> int:
    """The replica count of the `tf.distribute` strategy in force (1 outside one)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def _grouped_kernels_run():
    """Whether TensorFlow's CPU kernels run a grouped convolution and its filter gradient, tried once on a tiny case
    (they do through oneDNN, on by default on CPUs with AVX-512; not e.g. on AMD EPYC with AVX2 only, where the
    filter gradient asks for the full kernel and grappler's fused conv + bias has no groups)."""

    @tf.function
    def probe(x, kernel, bias):
        with tf.GradientTape() as tape:
            tape.watch(kernel)
            y = tf.nn.bias_add(tf.nn.convolution(x, kernel, padding="SAME"), bias)
        return y, tape.gradient(tf.reduce_sum(y), kernel)

    try:  # eagerly, also when first asked while a graph is traced (inside it, the probe would only be traced)
        with tf.init_scope(), tf.device("/CPU:0"):
            probe(tf.ones((1, 4, 4, 4)), tf.ones((3, 3, 2, 4)), tf.zeros((4,)))
        return True
    except (tf.errors.OpError, ValueError, TypeError):
        return False


@functools.lru_cache(maxsize=None)
def native_groups() -> bool:
    """Whether `tf.nn.convolution` runs grouped kernels here: on a GPU, or where the CPU kernels do (oneDNN)."""
    return has_gpu() or _grouped_kernels_run()


def grouped_conv(inputs: Tensor, kernel: Tensor, strides: int | Sequence[int], padding: str,
                 bias: Tensor | None = None) -> Tensor:
    """A grouped convolution without Keras's TensorFlow path, which sends every grouped convolution through an
    XLA-compiled function (a workaround for CPU kernels without groups) that makes RegNet training steps about 30x
    slower on CPU. With oneDNN or a GPU, `tf.nn.convolution` runs the groups natively; otherwise each group is its own
    convolution, concatenated (`native_groups`).

    The bias is added as a broadcast `tf.add`, not a `BiasAdd` (which Keras's `ops.add` makes of it), so that grappler
    does not fuse it into a `_FusedConv2D`, whose kernel has no groups without oneDNN."""
    groups = inputs.shape[-1] // kernel.shape[2]
    if groups == 1 or native_groups():
        outputs = tf.nn.convolution(inputs, kernel, strides=strides, padding=padding.upper())
    else:
        pieces = zip(tf.split(inputs, groups, axis=-1), tf.split(kernel, groups, axis=-1))
        outputs = tf.concat([tf.nn.convolution(x, k, strides=strides, padding=padding.upper()) for x, k in pieces], -1)
    if bias is None:
        return outputs
    return tf.add(outputs, tf.reshape(tf.cast(bias, outputs.dtype), (1, 1, 1, -1)))


def spectral_filter(z: Tensor, v: Tensor) -> Tensor:
    """Filters each channel of `z` (N, H, W, C) circularly by the real half-spectrum `v` (C, H, W // 2 + 1):
    irfft2(rfft2(z) * v) over H and W (real FFTs; about 30 % faster than complex ones on CPU)."""
    height, width = z.shape[1], z.shape[2]
    spectrum = tf.signal.rfft2d(tf.transpose(z, (0, 3, 1, 2)))
    filtered = tf.signal.irfft2d(spectrum * tf.cast(v, spectrum.dtype), fft_length=[height, width])
    return tf.transpose(filtered, (0, 2, 3, 1))


def gradient(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of the scalar `fn(x)` with respect to the tensor `x`."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return tape.gradient(value, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _circular_blocks(kernel, size):
    """The kernel's per-frequency matrices (H, W // 2 + 1, Cin, Cout): the real 2-D FFT of the kernel zero-padded to
    `size` (a real kernel's spectrum is conjugate-symmetric, so the half spectrum holds every singular value)."""
    channels_first = tf.transpose(tf.convert_to_tensor(kernel, tf.float32), (2, 3, 0, 1))  # (Cin, Cout, kh, kw)
    return tf.transpose(tf.signal.rfft2d(channels_first, fft_length=list(size)), (2, 3, 0, 1))


def _real_form(blocks):
    """[[Re, -Im], [Im, Re]]: a real (2m x 2n) matrix per complex (m x n) block, with every singular value of the block
    twice. XLA has no complex SVD, so the real form keeps singular value clipping compilable (as a Keras constraint
    inside an XLA train step)."""
    real, imag = tf.math.real(blocks), tf.math.imag(blocks)
    return tf.concat([tf.concat([real, -imag], axis=-1), tf.concat([imag, real], axis=-1)], axis=-2)


def circular_top_singular_value(kernel: Tensor, size: Sequence[int]) -> Tensor:
    """The largest singular value of the stride-1 circular convolution of `kernel` (kh, kw, Cin, Cout) on `size`."""
    return tf.reduce_max(tf.linalg.svd(_real_form(_circular_blocks(kernel, size)), compute_uv=False))


def clip_circular_spectrum(kernel: Tensor, size: Sequence[int], limit: float) -> Tensor:
    """Clips to `limit` every singular value of the per-frequency matrices of `kernel` (kh, kw, Cin, Cout) on a
    `size` (H, W) input and returns the inverse transform cropped back to (kh, kw).

    Clipping commutes with the real form (U min(S, c) V^T does not depend on which SVD is taken), so the clipped
    complex block is read back from the clipped real form's left column of blocks; clipping also keeps the spectrum's
    conjugate symmetry, so the inverse real FFT is exact before the crop."""
    kh, kw, cin, cout = kernel.shape
    singular, left, right = tf.linalg.svd(_real_form(_circular_blocks(kernel, size)))
    clipped = tf.matmul(left * tf.minimum(singular, limit)[..., None, :], right, adjoint_b=True)
    blocks = tf.complex(clipped[..., :cin, :cout], clipped[..., cin:, :cout])
    spatial = tf.signal.irfft2d(tf.transpose(blocks, (2, 3, 0, 1)), fft_length=list(size))
    return tf.transpose(spatial[:, :, :kh, :kw], (2, 3, 0, 1))


def compile_function(fn: Callable[..., Any], xla: bool = True, per_point: int | None = None) -> Callable[..., Any]:
    """`fn` as a TensorFlow graph, compiled with XLA if `xla`; with `per_point` k, its first k arguments hold one row
    per point and it shards them inside `kerobust.sharding.sharding_points` (`shard_points`)."""
    compiled = tf.function(fn, jit_compile=xla, reduce_retracing=True)
    return compiled if per_point is None else shard_points(compiled, per_point)


SEED_STRIDE = 1_000_003  # replica r draws its random numbers from seed pair (a, b + r * SEED_STRIDE)


def _pad_rows(array, rows):
    """`array` with its last row repeated up to `rows` rows."""
    array = np.asarray(array)
    if len(array) == rows:
        return array
    return np.concatenate([array, np.repeat(array[-1:], rows - len(array), axis=0)])


def shard_points(fn: Callable[..., Any], per_point: int, seed_index: int | None = None) -> Callable[..., Any]:
    """`fn(*args)` whose first `per_point` arguments hold one row per point (and whose outputs do too), run inside
    `kerobust.sharding.sharding_points` by `strategy.run` on equal shards of the rows, one per replica (the
    batch padded by repeating its last row, the outputs cropped back); the other arguments go to every replica.
    The int32 seed pair at `seed_index` moves by `SEED_STRIDE` per replica, so the shards draw distinct noise
    (replica 0 draws what one device would for its rows). Outside `sharding_points`, `fn` as it is."""
    compiled = {}  # strategy -> the tf.function that runs `on_replica` on each replica

    def on_replica(shards, shared):
        shared = list(shared)
        if seed_index is not None:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            seed = seed_index - per_point
            shared[seed] = tf.cast(shared[seed], tf.int32) + tf.stack([0, tf.cast(replica, tf.int32) * SEED_STRIDE])
        return fn(*shards, *shared)

    def run(*args):
        distribution = point_sharding()
        if distribution is None:
            return fn(*args)
        strategy = distribution.strategy
        points = len(args[0])
        shard = -(-points // distribution.replicas)
        rows = [_pad_rows(a, shard * distribution.replicas) for a in args[:per_point]]
        shards = strategy.experimental_distribute_values_from_function(
            lambda context: tuple(a[context.replica_id_in_sync_group * shard:][:shard] for a in rows))
        if strategy not in compiled:
            compiled[strategy] = tf.function(lambda s, shared: strategy.run(on_replica, args=(s, shared)),
                                             reduce_retracing=True)
        outputs = compiled[strategy](shards, tuple(tf.convert_to_tensor(a) for a in args[per_point:]))
        per_replica = strategy.experimental_local_results(outputs)  # one output structure per replica
        return tf.nest.map_structure(lambda *parts: tf.concat(parts, axis=0)[:points], *per_replica)

    return run


def supports_float64() -> bool:
    """TensorFlow computes in float64 when asked."""
    return True


def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU."""
    return bool(tf.config.list_physical_devices("GPU"))


def compile_attack(model: keras.Model, perturb: Callable[[Oracle, Tensor, Tensor, Tensor], Any], loss_fn: LossFn,
                   xla: bool | None = None, per_point: bool = True) -> Callable[[ArrayLike, ArrayLike, ArrayLike], Any]:
    """Compiles `perturb(oracle, x, y, seed)` for `model` as a graph (XLA if `xla`, default: with a GPU);
    returns `run(x, y, seed)`, sharded over the devices inside `sharding_points` when `per_point` (every row of x is
    its own point: not so for a power iteration's one vector)."""
    xla = has_gpu() if xla is None else xla

    @tf.function(jit_compile=xla, reduce_retracing=True)
    def run(x, y, seed):
        return perturb(_oracle(model, loss_fn), x, y, seed)

    return shard_points(run, 2, seed_index=2) if per_point else run


def compile_predict(model: keras.Model) -> Callable[[ArrayLike], Tensor]:
    """`model(x, training=False)` as a graph, sharded inside `kerobust.sharding.sharding_points`."""
    return shard_points(tf.function(lambda x: model(x, training=False), reduce_retracing=True), 1)


def training_oracle(model: keras.Model, loss_fn: LossFn) -> Oracle:
    """The `Oracle` of `model` with its current weights, in inference mode (the attack inside a training step)."""
    return _oracle(model, loss_fn, training=False)


def loss_and_gradients(model: keras.Model, x_of: Callable[[Tensor | None], Tensor], extra: Tensor | None, y: Tensor,
                       sample_weight: Tensor | None) -> tuple[Tensor, Tensor, list[Tensor], Tensor | None]:
    """`(loss, y_pred, weight_grads, extra_grad)` of `model`'s training loss on `x_of(extra)` (training mode).

    The gradients are of the optimizer's scaled loss (`optimizer.apply` unscales them); `extra_grad` is None when
    `extra` is None."""
    with tf.GradientTape() as tape:
        if extra is not None:
            tape.watch(extra)
        x = x_of(extra)
        y_pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        scaled = model.optimizer.scale_loss(loss)
    sources = list(model.trainable_variables) + ([extra] if extra is not None else [])
    grads = tape.gradient(scaled, sources)
    if extra is None:
        return loss, y_pred, grads, None
    return loss, y_pred, grads[:-1], grads[-1]


def apply_gradients(model: keras.Model, grads: Sequence[Tensor]) -> None:
    """One optimizer step of `model`'s trainable variables (grads of the scaled loss)."""
    model.optimizer.apply(grads, model.trainable_variables)
