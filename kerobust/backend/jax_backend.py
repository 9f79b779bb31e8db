"""JAX implementation of kerobust's backend plumbing (`jax.grad` over `stateless_call`, `jax.jit`)."""

import jax
import jax.numpy as jnp
import keras

from kerobust.backend.oracle import Oracle
from kerobust.backend.variables import index_of


def _key(seed):
    key = jax.random.PRNGKey(0)
    return jax.random.fold_in(jax.random.fold_in(key, seed[0]), seed[1])


def uniform(shape, seed, minval=0.0, maxval=1.0, dtype="float32"):
    """Stateless uniform noise from an int32 seed pair."""
    return jax.random.uniform(_key(seed), tuple(shape), dtype=dtype, minval=minval, maxval=maxval)


def normal(shape, seed, dtype="float32"):
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

    return Oracle(
        gradient=gradient, logits=logits, losses=lambda x, y: loss_fn(y, logits(x), per_sample=True), loss=loss_fn
    )


def grouped_conv(inputs, kernel, strides, padding):
    """`keras.ops.conv` (grouped through `feature_group_count`)."""
    return keras.ops.conv(inputs, kernel, strides=strides, padding=padding)


def spectral_filter(z, v):
    """Filters each channel of `z` (N, H, W, C) circularly by the real half-spectrum `v` (C, H, W // 2 + 1):
    irfft2(rfft2(z) * v) over H and W."""
    height, width = z.shape[1], z.shape[2]
    spectrum = jnp.fft.rfft2(z, axes=(1, 2))
    return jnp.fft.irfft2(spectrum * jnp.transpose(v, (1, 2, 0)), s=(height, width), axes=(1, 2)).astype(z.dtype)


def gradient(fn, x):
    """The gradient of the scalar `fn(x)` with respect to the array `x`."""
    return jax.grad(fn)(jnp.asarray(x))


def _circular_blocks(kernel, size):
    """The kernel's per-frequency matrices (H, W // 2 + 1, Cin, Cout) (half spectrum, as on TensorFlow)."""
    return jnp.fft.rfft2(jnp.asarray(kernel, jnp.float32), s=tuple(size), axes=(0, 1))


def circular_top_singular_value(kernel, size):
    """The largest singular value of the stride-1 circular convolution of `kernel` (kh, kw, Cin, Cout) on `size`."""
    return jnp.max(jnp.linalg.svd(_circular_blocks(kernel, size), compute_uv=False))


def clip_circular_spectrum(kernel, size, limit):
    """Clips every per-frequency singular value to `limit`; the inverse transform cropped to (kh, kw)."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    left, singular, right = jnp.linalg.svd(_circular_blocks(kernel, size), full_matrices=False)
    blocks = (left * jnp.minimum(singular, limit)[..., None, :]) @ right
    return jnp.fft.irfft2(blocks, s=tuple(size), axes=(0, 1))[:kh, :kw].astype(jnp.float32)


def compile_function(fn, xla=True):
    """`fn` compiled with `jax.jit` (always XLA; the model's weights enter as constants)."""
    return jax.jit(fn)


def supports_float64():
    """Whether JAX runs in 64-bit mode (otherwise it silently computes float64 arrays in float32)."""
    return bool(jax.config.jax_enable_x64)


def has_gpu():
    """Whether JAX's default backend is a GPU."""
    return jax.default_backend() == "gpu"


def compile_attack(model, perturb, loss_fn, xla=True):
    """Compiles `perturb(oracle, x, y, seed)` for `model` with `jax.jit`; returns `run(x, y, seed)`."""

    @jax.jit
    def run_stateless(trainable, non_trainable, x, y, seed):
        return perturb(_oracle(model, trainable, non_trainable, loss_fn), x, y, seed)

    def run(x, y, seed):
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return run_stateless(trainable, non_trainable, jnp.asarray(x), jnp.asarray(y), jnp.asarray(seed))

    return run


class AdversarialTrainStep:
    """Stateless `train_step` for `AdversarialModel` on JAX (see the TensorFlow twin for the two step shapes)."""

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        iterations = optimizer_vars[index_of(self.optimizer.iterations, self.optimizer.variables)]
        seed = jnp.stack([jnp.int32(self.method.seed), iterations.astype("int32")])
        if self.method.kind == "replay":
            return self._replay_step(state, x, y, sample_weight)
        oracle = _oracle(self, trainable, non_trainable, self.method.loss_fn)
        x_train, y_train, sample_weight = self.method.training_batch(oracle, x, y, sample_weight, seed)
        value_and_grad = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (_, aux), grads = value_and_grad(
            trainable, non_trainable, metrics_vars, x_train, y_train, sample_weight,
            training=True, optimizer_variables=optimizer_vars,
        )
        unscaled_loss, y_pred, non_trainable, metrics_vars = aux
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        logs, metrics_vars = self._update_metrics_variables(
            metrics_vars, unscaled_loss, x_train, y_train, y_pred, sample_weight
        )
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)

    def _replay_step(self, state, x, y, sample_weight):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        method = self.method
        index = index_of(self.perturbation, self.non_trainable_variables)
        full = non_trainable[index]
        n = x.shape[0]
        delta = full[:n]

        def loss_of(weights, delta, non_trainable, metrics_vars, optimizer_vars):
            return self.compute_loss_and_updates(
                weights, non_trainable, metrics_vars, method.perturbed_input(x, delta), y, sample_weight,
                training=True, optimizer_variables=optimizer_vars,
            )

        # One backward pass per replay gives the weight and the perturbation gradients together.
        value_and_grad = jax.value_and_grad(loss_of, argnums=(0, 1), has_aux=True)
        logs = None
        for _ in range(method.replays):
            (_, aux), (grads, delta_grad) = value_and_grad(
                trainable, delta, non_trainable, metrics_vars, optimizer_vars
            )
            unscaled_loss, y_pred, non_trainable, metrics_vars = aux
            trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
            logs, metrics_vars = self._update_metrics_variables(
                metrics_vars, unscaled_loss, method.perturbed_input(x, delta), y, y_pred, sample_weight
            )
            delta = method.update_perturbation(delta, delta_grad)
        non_trainable = list(non_trainable)
        non_trainable[index] = full.at[:n].set(delta)
        return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)
