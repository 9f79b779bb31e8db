import keras
import numpy as np
import pytest

from kerobust.layers import ConvNorm
from kerobust.layers.conv_norm import apply_preconditioner, channel_preconditioner
from tests.keras_citizenship import check_citizenship, classifier_around

# (kernel, strides, padding, input (H, W)): odd, even and non-square kernels, strides 1-3, both paddings.
CONFIGS = [
    (3, 1, "same", (7, 7)), (3, 2, "same", (8, 8)), (4, 2, "same", (7, 7)), (3, 1, "valid", (6, 6)),
    (2, 3, "valid", (9, 9)), ((2, 3), (1, 2), "same", (6, 7)), (1, 2, "same", (7, 7)), (5, 2, "valid", (9, 8)),
]


@pytest.fixture(params=["fft", "dft", "dense"])
def filter_path(request, monkeypatch):
    """Runs a test through the three ways of applying the preconditioner (real FFTs, DFT matmuls, dense circulant
    matrices); `uses_fft(filter_path)` is the matching `use_fft`."""
    import kerobust.layers.conv_norm as conv_norm

    monkeypatch.setattr(conv_norm, "DENSE_GRID_POINTS", 10**6 if request.param == "dense" else 0)
    return request.param


def uses_fft(filter_path):
    return filter_path != "dft"


def _layer(kernel, strides, padding, size, channels=3, filters=4, filter_path="fft", **options):
    layer = ConvNorm(filters, kernel, strides=strides, padding=padding, affine=False, batch_norm=False, **options)
    layer.build((None, *size, channels))
    layer.use_fft = uses_fft(filter_path)
    return layer


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("kernel,strides,padding,size", CONFIGS)
def test_unit_preconditioner_reproduces_conv2d(kernel, strides, padding, size, filter_path):
    x = np.random.default_rng(0).normal(size=(2, *size, 3)).astype("float32")
    layer = _layer(kernel, strides, padding, size, filter_path=filter_path)
    conv = keras.layers.Conv2D(4, kernel, strides=strides, padding=padding, use_bias=False)
    conv.build(x.shape)
    conv.set_weights([np.asarray(layer.kernel)])
    expected = np.asarray(conv(x))
    # Same sums as Conv2D; oneDNN may order them differently on other CPUs (measured up to 2.4e-7).
    np.testing.assert_allclose(np.asarray(layer.preconditioned_conv(x, None)), expected, atol=1e-6, rtol=0)
    ones = np.ones(layer.running_v.shape, "float32")  # the frequency-domain path with v = 1
    np.testing.assert_allclose(np.asarray(layer.preconditioned_conv(x, ones)), expected, atol=2e-6)


def _circular_conv_matrix(kernel, grid):
    """Dense (H'W' x C_in H'W') matrix of output channel `kernel[..., k]`'s circular cross-correlation."""
    kh, kw, channels = kernel.shape
    rows = []
    for r in range(grid[0]):
        for c in range(grid[1]):
            row = np.zeros((channels, *grid))
            for a in range(kh):
                for b in range(kw):
                    row[:, (r + a) % grid[0], (c + b) % grid[1]] += kernel[a, b, :]
            rows.append(row.reshape(-1))
    return np.array(rows)


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("kernel_size", [(3, 3), (2, 3)])
def test_each_channel_is_a_tight_frame_for_circular_convolution(kernel_size, filter_path):
    # Q_k = P_k A_k with A_k the circular multi-channel operator of output channel k: Q_k Q_k^T = I.
    grid = (5, 6)
    kernel = np.random.default_rng(1).normal(size=(*kernel_size, 2, 3)).astype("float32")
    v = np.asarray(channel_preconditioner(kernel, grid, epsilon=0.0))
    for k in range(3):
        basis = np.eye(grid[0] * grid[1], dtype="float32").reshape(-1, *grid, 1)
        filtered = np.asarray(apply_preconditioner(basis, v[k : k + 1], use_fft=uses_fft(filter_path)))
        precondition = filtered.reshape(len(basis), -1).T  # column j = P_k e_j
        q = precondition @ _circular_conv_matrix(kernel[..., k].astype("float64"), grid)
        np.testing.assert_allclose(q @ q.T, np.eye(len(q)), atol=1e-5)


def _numpy_preconditioner(kernel, grid, epsilon):
    """Independent `v` on the half spectrum: rfft2 of every zero-padded kernel, power summed over input channels."""
    spectrum = np.fft.rfft2(np.transpose(np.asarray(kernel, "float64"), (3, 2, 0, 1)), s=grid)
    return (np.sum(np.abs(spectrum) ** 2, axis=1) + epsilon) ** -0.5


def _numpy_conv_norm(x, kernel, strides, padding, epsilon):
    """Independent NumPy ConvNorm: full correlation by loops, FFT preconditioning, crop and stride."""
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    grid = (h + kh - 1, w + kw - 1)
    padded = np.pad(x, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    full = np.zeros((n, *grid, filters))
    for a in range(kh):
        for b in range(kw):
            full += np.einsum("nhwc,cf->nhwf", padded[:, a : a + grid[0], b : b + grid[1], :], kernel[a, b])
    spectrum = np.fft.fft2(np.transpose(kernel, (3, 2, 0, 1)), s=grid)
    v = (np.sum(np.abs(spectrum) ** 2, axis=1) + epsilon) ** -0.5
    filtered = np.real(np.fft.ifft2(np.fft.fft2(np.transpose(full, (0, 3, 1, 2))) * v))
    filtered = np.transpose(filtered, (0, 2, 3, 1))
    starts, sizes = [], []
    for size, k, s in ((h, kh, strides[0]), (w, kw, strides[1])):
        out = -(-size // s) if padding == "same" else (size - k) // s + 1
        before = max((out - 1) * s + k - size, 0) // 2 if padding == "same" else 0
        starts.append(k - 1 - before)
        sizes.append(out)
    rows = starts[0] + strides[0] * np.arange(sizes[0])
    cols = starts[1] + strides[1] * np.arange(sizes[1])
    return filtered[:, rows][:, :, cols]


@pytest.mark.smoke
@pytest.mark.parametrize("kernel,strides,padding,size", [c for c in CONFIGS if c[0] != 1])
def test_matches_an_independent_numpy_fft_computation(kernel, strides, padding, size, filter_path):
    x = np.random.default_rng(2).uniform(size=(2, *size, 3)).astype("float32")
    layer = _layer(kernel, strides, padding, size, filter_path=filter_path)
    expected = _numpy_conv_norm(x.astype("float64"), np.asarray(layer.kernel, "float64"), layer.strides, padding,
                                layer.epsilon)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


@pytest.mark.smoke
def test_pointwise_kernels_scale_each_channel_by_its_inverse_norm():
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 3)).astype("float32")
    layer = _layer(1, 1, "same", (5, 5))
    kernel = np.asarray(layer.kernel)[0, 0]
    expected = np.einsum("nhwc,cf->nhwf", x, kernel) / np.linalg.norm(kernel, axis=0)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


@pytest.mark.smoke
def test_running_estimate_follows_the_cosine_schedule():
    layer = _layer(3, 1, "same", (4, 4), decay_calls=4, floor=0.1)
    x = np.ones((1, 4, 4, 3), "float32")
    kernels = [np.random.default_rng(s).normal(size=layer.kernel.shape).astype("float32") for s in range(7)]
    running = None
    for t, kernel in enumerate(kernels):
        layer.kernel.assign(kernel)
        v = _numpy_preconditioner(kernel, layer.grid, layer.epsilon)
        f = max(0.5 * (np.cos(np.pi * min(t, 4) / 4) + 1), 0.1)
        running = v if t == 0 else f * v + (1 - f) * running
        layer(x, training=True)
        np.testing.assert_allclose(np.asarray(layer.running_v), running, rtol=1e-5)
    # Inference uses the running estimate, not the current kernel's preconditioner.
    expected = layer.preconditioned_conv(x, running.astype("float32"))
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(expected), atol=1e-5)


def test_no_gradient_flows_through_the_preconditioner():
    import tensorflow as tf

    x = np.random.default_rng(4).normal(size=(2, 5, 5, 2)).astype("float32")
    layer = _layer(3, 1, "same", (5, 5), channels=2)
    frozen_v = np.asarray(layer.preconditioner())
    weights = np.random.default_rng(5).normal(size=(2, 5, 5, 4)).astype("float32")
    grads = []
    for frozen in (False, True):
        with tf.GradientTape() as tape:
            out = layer.preconditioned_conv(x, frozen_v) if frozen else layer(x)
            objective = tf.reduce_sum(out * weights)
        grads.append(tape.gradient(objective, layer.kernel.value).numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)
    assert np.abs(grads[1]).max() > 1e-3


@pytest.mark.smoke
def test_affine_step_starts_as_the_identity():
    x = np.random.default_rng(6).normal(size=(2, 6, 6, 3)).astype("float32")
    plain = _layer(3, 2, "same", (6, 6))
    affine = ConvNorm(4, 3, strides=2, affine=True, batch_norm=False)
    affine.build(x.shape)
    affine.kernel.assign(plain.kernel)
    np.testing.assert_allclose(np.asarray(affine(x)), np.asarray(plain(x)), atol=1e-6)


@pytest.mark.parametrize("size", [6, 16])  # grids of 8x8 (dense filter) and 18x18 (FFT filter)
def test_keras_citizenship(tmp_path, size):
    x = np.random.default_rng(7).uniform(size=(8, size, size, 2)).astype("float32")
    layer = ConvNorm(4, 3, strides=2, padding="same", affine=True, batch_norm=True)
    model = classifier_around(layer, (size, size, 2))
    model(x, training=True)  # a training call so that the running estimate is in use
    check_citizenship(model, x, tmp_path)


@pytest.mark.parametrize("bad,message", [({"padding": "full"}, "padding"), ({"filters": 0}, "filters"),
                                         ({"kernel_size": 0}, "kernel_size")])
def test_bad_arguments_are_clear_errors(bad, message):
    arguments = {"filters": 4, "kernel_size": 3, **bad}
    with pytest.raises(ValueError, match=message):
        ConvNorm(**arguments)


def test_needs_a_fixed_spatial_size():
    with pytest.raises(ValueError, match="fixed input height"):
        ConvNorm(4, 3).build((None, None, None, 3))
