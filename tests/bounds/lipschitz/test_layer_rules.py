"""Each layer rule against an independent ground truth: dense matrices, autodiff, finite differences, the
closed forms of docs/bounds.md section 7."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from kerobust.bounds.lipschitz.activations import CONSTANTS
from kerobust.bounds.lipschitz.batch_norm import thesis_batch_norm
from kerobust.bounds.lipschitz.conv_norm import conv_norm_lipschitz, preconditioned_norm
from kerobust.bounds.lipschitz.convolution import conv_lipschitz, thesis_conv
from kerobust.bounds.lipschitz.dense_block import jacobian_norm, second_derivative_bound, thesis_dense_block
from kerobust.bounds.lipschitz.local_response_norm import gradient_norms, lrn_lipschitz, thesis_lrn
from kerobust.bounds.lipschitz.pooling import pooling_lipschitz, thesis_pooling
from kerobust.bounds.rules import layer_lipschitz
from kerobust.layers import ConvNorm, LocalResponseNormalization, LpPooling2D
from kerobust.layers.conv_norm import apply_preconditioner, channel_preconditioner

pytestmark = pytest.mark.smoke


def _built(layer, shape):
    inputs = keras.Input(shape)
    keras.Model(inputs, layer(inputs))
    return layer


def _dense_matrix_of(layer, shape):
    """The matrix of a linear layer, from the layer applied to every basis input."""
    size = math.prod(shape)
    basis = np.eye(size, dtype="float32").reshape(size, *shape)
    return np.asarray(layer(basis), dtype="float64").reshape(size, -1).T


@pytest.mark.parametrize("kernel_size,strides,padding,dilation,groups", [
    (3, 1, "same", 1, 1), (3, 2, "same", 1, 1), ((2, 3), 1, "valid", 1, 1), (3, 1, "valid", 2, 1),
    (3, 2, "same", 1, 2), (5, 3, "same", 1, 1),
])
def test_conv_lipschitz_bounds_the_dense_matrix_spectral_norm(kernel_size, strides, padding, dilation, groups):
    keras.utils.set_random_seed(0)
    layer = _built(keras.layers.Conv2D(4, kernel_size, strides=strides, padding=padding, dilation_rate=dilation,
                                       groups=groups, use_bias=False), (7, 6, 4))
    exact = np.linalg.svd(_dense_matrix_of(layer, (7, 6, 4)), compute_uv=False)[0]
    bound = conv_lipschitz(layer)
    kernel = np.asarray(layer.kernel)
    assert exact <= bound * (1 + 1e-5)
    assert bound <= np.sqrt(np.sum(kernel**2)) * math.prod(math.ceil(k * d / s) for k, d, s in zip(
        layer.kernel_size, layer.dilation_rate, layer.strides)) ** 0.5 * (1 + 1e-6)


def test_conv_rules_scale_and_ignore_bias_stride_padding():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype("float32")
    kappa = np.array([0.5, 2.0], "float32")
    base = np.asarray(thesis_conv(kappa, kernel))
    np.testing.assert_allclose(base, kappa / np.sqrt(np.sum(kernel**2)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(thesis_conv(kappa, -3.0 * kernel)), base / 3.0, rtol=1e-6)
    assert np.isinf(np.asarray(thesis_conv(kappa, np.zeros_like(kernel)))).all()



def _even_half_spectrum(rng, shape, grid):
    """A positive `v` that is the half spectrum of an even one, as ConvNorm's are: another kernel's preconditioner."""
    return np.asarray(channel_preconditioner(rng.normal(size=shape).astype("float32"), grid, 1e-8))


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("kernel_size,grid", [((3, 3), (6, 6)), ((2, 3), (5, 7)), ((1, 1), None)])
def test_preconditioned_norm_is_the_dense_matrix_spectral_norm(kernel_size, grid):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(*kernel_size, 3, 4)).astype("float32")
    if grid is None:  # 1x1: v scales each output channel at every pixel
        v = rng.uniform(0.2, 2.0, size=4).astype("float32")
        matrix = (kernel[0, 0] * v).T
    else:
        v = _even_half_spectrum(rng, kernel.shape, grid)
        kh, kw = kernel_size
        basis = np.eye(math.prod(grid) * 3, dtype="float32").reshape(-1, *grid, 3)
        wrapped = np.concatenate([basis[:, -(kh - 1):], basis], axis=1) if kh > 1 else basis  # circular padding
        wrapped = np.concatenate([wrapped[:, :, -(kw - 1):], wrapped], axis=2) if kw > 1 else wrapped
        circular = ops.conv(wrapped, kernel, padding="valid")  # the circular convolution on the whole grid
        matrix = np.asarray(apply_preconditioner(circular, v), dtype="float64").reshape(len(basis), -1).T
    exact = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(preconditioned_norm(kernel, v, grid), exact, rtol=1e-5)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("kernel_size,strides,padding,affine,batch_norm", [
    (3, 1, "same", True, True), (3, 2, "same", True, True), ((2, 3), 1, "valid", True, True),
    (1, 2, "same", True, True),
    (3, 2, "same", False, True), ((1, 3), 1, "valid", False, True), (1, 2, "same", False, True),
    (3, 1, "same", True, False), ((2, 3), 2, "same", False, False),
])
def test_conv_norm_lipschitz_bounds_the_layer_at_inference(kernel_size, strides, padding, affine, batch_norm):
    """Running estimate, affine depthwise step and batch norm all set away from their initial values."""
    rng = np.random.default_rng(1)
    layer = _built(ConvNorm(4, kernel_size, strides=strides, padding=padding, affine=affine, batch_norm=batch_norm),
                   (6, 7, 3))
    layer.training_calls.assign(1.0)
    if layer.is_pointwise:
        layer.running_v.assign(rng.uniform(0.2, 2.0, size=4).astype("float32"))
    else:
        layer.running_v.assign(_even_half_spectrum(rng, layer.kernel.shape, layer.grid))
    if affine:
        layer.affine_conv.kernel.assign(rng.normal(size=layer.affine_conv.kernel.shape).astype("float32"))
    if batch_norm:
        bn = layer.normalization
        bn.gamma.assign((rng.choice([-1.0, 1.0], 4) * np.geomspace(0.05, 20.0, 4)).astype("float32"))
        bn.moving_mean.assign(rng.normal(size=4).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.1, 3.0, size=4).astype("float32"))
    shape = (6, 7, 3)
    zero = np.asarray(layer(np.zeros((1, *shape), "float32")), "float64").reshape(-1)
    matrix = _dense_matrix_of(layer, shape) - zero[:, None]  # the layer is affine at inference
    exact = np.linalg.svd(matrix, compute_uv=False)[0]
    bound = conv_norm_lipschitz(layer)
    # Sound, and not vacuous: on these 6x7 inputs the bound is 1.0-4.0 times the exact norm (the padded grid, and the
    # affine depthwise step bounded on its own); an infinite or wildly loose rule fails.
    assert exact <= bound * (1 + 1e-5) and bound <= 5.0 * exact


@pytest.mark.parametrize("multiplier,strides,dilation,padding",
                         [(1, 1, 1, "same"), (2, 2, 1, "same"), (3, 1, 2, "valid")])
def test_depthwise_lipschitz_bounds_the_dense_matrix_spectral_norm(multiplier, strides, dilation, padding):
    keras.utils.set_random_seed(2)
    layer = _built(keras.layers.DepthwiseConv2D(3, strides=strides, padding=padding, depth_multiplier=multiplier,
                                                dilation_rate=dilation, use_bias=False), (7, 6, 3))
    exact = np.linalg.svd(_dense_matrix_of(layer, (7, 6, 3)), compute_uv=False)[0]
    bound = layer_lipschitz(layer)
    assert exact <= bound * (1 + 1e-5) and bound <= 2.0 * exact


@pytest.mark.parametrize("pool,padding", [("avg", "valid"), ("avg", "same"), ("max", "valid"), ("max", "same")])
def test_pooling_lipschitz_bounds_the_layer(pool, padding):
    layer_type = keras.layers.AveragePooling2D if pool == "avg" else keras.layers.MaxPooling2D
    layer = _built(layer_type(3, strides=2, padding=padding), (7, 7, 1))
    bound = pooling_lipschitz(layer)
    if pool == "avg":
        exact = np.linalg.svd(_dense_matrix_of(layer, (7, 7, 1)), compute_uv=False)[0]
        assert exact <= bound * (1 + 1e-6) and bound <= 1.0
    else:
        assert bound == pytest.approx(2.0)  # ceil(3 / 2)^2 windows hold one input: sqrt(4)
        rng = np.random.default_rng(0)
        x, x2 = rng.normal(size=(2, 200, 7, 7, 1)).astype("float32")
        ratios = (np.linalg.norm((np.asarray(layer(x)) - np.asarray(layer(x2))).reshape(200, -1), axis=1)
                  / np.linalg.norm((x - x2).reshape(200, -1), axis=1))
        assert ratios.max() <= bound
    assert float(thesis_pooling(12.0, layer)) == pytest.approx(12.0 / layer.output.shape[1])



def _jacobian_norm(layer, x):
    """||d layer(x) / dx||_2 at one sample, from one gradient per output."""
    from kerobust import backend

    outputs = int(np.prod(layer(x).shape))
    rows = [np.asarray(backend.gradient(lambda z, i=i: ops.reshape(layer(z), (-1,))[i], x)).reshape(-1)
            for i in range(outputs)]
    return np.linalg.norm(np.array(rows), 2)


# sqrt(m) max(1, q^(1/p - 1/2)) by hand: m windows hold an input (ceil(pool / stride)^2), q inputs fill a window.
@pytest.mark.slow_on_jax
@pytest.mark.parametrize("p,pool,strides,expected", [
    (1.0, 2, 1, 2 * 4**0.5), (1.5, 3, 2, 2 * 9 ** (1 / 1.5 - 0.5)), (2.0, 2, 2, 1.0), (3.0, 2, 1, 2.0),
])
def test_lp_pooling_lipschitz_bounds_its_jacobian(p, pool, strides, expected):
    layer = _built(LpPooling2D(p, pool, strides), (5, 5, 2))
    bound = pooling_lipschitz(layer)
    assert bound == pytest.approx(expected, rel=1e-6)  # finite, and the constant the rule claims
    points = np.random.default_rng(0).normal(size=(6, 1, 5, 5, 2)).astype("float32")
    steepest = max(_jacobian_norm(layer, x) for x in points)
    assert steepest <= bound * (1 + 1e-5)
    if (p, strides) == (2.0, 2):  # disjoint windows: each output's gradient is a unit vector on its own window
        assert bound == 1.0 and steepest == pytest.approx(1.0, rel=1e-5)


def test_lp_pooling_rules_by_hand():
    """6x6 input, 2x2 windows: t = 3, q^(2/p) = 2 for p = 2, so the thesis gives kappa / 6; sound refuses p < 1."""
    kappa = np.array([0.6, 1.2], "float32")
    np.testing.assert_allclose(np.asarray(thesis_pooling(kappa, _built(LpPooling2D(2.0, 2), (6, 6, 1)))), kappa / 6,
                               rtol=1e-6)
    with pytest.raises(ValueError, match="p >= 1"):
        pooling_lipschitz(_built(LpPooling2D(0.5, 2), (6, 6, 1)))


def test_global_pooling_is_the_identity_in_thesis_mode():
    layer = _built(keras.layers.GlobalAveragePooling2D(), (4, 4, 3))
    assert thesis_pooling(0.7, layer) == 0.7 and pooling_lipschitz(layer) == pytest.approx(0.25)


def test_batch_norm_closed_form_equals_the_thesis_rho_form_and_handles_zero_gamma():
    layer = _built(keras.layers.BatchNormalization(epsilon=1e-3), (5,))
    rng = np.random.default_rng(0)
    gamma = np.array([1.5, -0.5, 0.0, 2.0, 0.3])
    beta = rng.normal(size=5)
    mean, var = rng.normal(size=5), rng.random(5) + 0.1
    layer.set_weights([gamma, beta, mean, var])
    x = rng.normal(size=(3, 5)).astype("float32")
    kappa = np.array([0.1, 1.0, 3.0], "float32")
    y = np.asarray(layer(x, training=False), dtype="float64")
    ours = np.asarray(thesis_batch_norm(kappa, y.astype("float32"), layer))
    sigma = np.sqrt(var + 1e-3)
    for i in range(3):  # Theorem 5.6 as printed: phi, chi, psi and the two roots
        phi, chi = gamma / sigma**2, 2 * gamma * (x[i] - mean) + 2 * beta * sigma
        psi = (2 * kappa[i] * np.linalg.norm(y[i]) + kappa[i] ** 2) / 5
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(phi**2 * chi**2 + 4 * phi * gamma * psi)
            rho1, rho2 = -(root + phi * chi) / (2 * phi * gamma), (root - phi * chi) / (2 * phi * gamma)
        delta = np.where(gamma != 0, np.minimum(np.abs(rho1), np.abs(rho2)), -np.inf)
        assert ours[i] == pytest.approx(np.max(delta), rel=1e-4)
    assert np.isfinite(ours).all()


@pytest.mark.slow_on_jax
def test_lrn_gradient_matches_autodiff_and_m_dominates_second_derivatives():
    layer = _built(LocalResponseNormalization(k=2.0, n=4, alpha=0.3, beta=0.75), (2, 2, 5))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 2, 5)).astype("float64")
    jacobian = np.zeros((20, 20))
    flat = x.reshape(-1)
    step = 1e-3
    for j in range(20):
        up, down = flat.copy(), flat.copy()
        up[j] += step
        down[j] -= step
        jacobian[:, j] = (np.asarray(layer(up.reshape(x.shape).astype("float32")), "float64").reshape(-1)
                          - np.asarray(layer(down.reshape(x.shape).astype("float32")), "float64").reshape(-1)
                          ) / (2 * step)
    # The analytic gradient norms are the Jacobian's row norms, channel edges included.
    np.testing.assert_allclose(np.asarray(gradient_norms(x.astype("float32"), layer)).reshape(-1),
                               np.linalg.norm(jacobian, axis=1), rtol=1e-3)
    # Sound Lipschitz constant >= the Jacobian's spectral norm at this point, and the finite k^-beta (1 + beta (w - 1))
    # with the window w = n + 1 = 5 channels (depth radius 2).
    assert np.linalg.svd(jacobian, compute_uv=False)[0] <= lrn_lipschitz(layer)
    assert lrn_lipschitz(layer) == pytest.approx(2.0**-0.75 * (1 + 0.75 * 4), rel=1e-6)
    # The thesis rule's gradient norms (rows of the Jacobian): a kappa large enough puts every a in Delta; then the
    # rule is finite and positive.
    bound = np.asarray(thesis_lrn(np.array([0.5], "float32"), x.astype("float32"), layer))
    assert bound.shape == (1,) and 0 < bound[0] < np.inf


@pytest.mark.slow_on_jax
def test_dense_block_jacobian_norm_matches_autodiff_and_algorithm_4_1():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    first, second = keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(4, activation="sigmoid")
    keras.Model(inputs, second(first(inputs)))
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    ours = np.asarray(jacobian_norm(ops.convert_to_tensor(x), [first, second]))
    for i in range(3):
        jacobian = np.zeros((4, 6))
        for j in range(6):
            up, down = x[i:i + 1].astype("float64").copy(), x[i:i + 1].astype("float64").copy()
            up[0, j] += 1e-4
            down[0, j] -= 1e-4
            jacobian[:, j] = (np.asarray(second(first(up.astype("float32"))), "float64")
                              - np.asarray(second(first(down.astype("float32"))), "float64"))[0] / 2e-4
        assert ours[i] == pytest.approx(np.linalg.svd(jacobian, compute_uv=False)[0], rel=2e-2)
    s = np.max(np.sum(np.abs(np.asarray(first.kernel)), axis=0))
    assert second_derivative_bound([first]) == pytest.approx(CONSTANTS["tanh"][1] * s**2, rel=1e-6)
    kappa = np.array([0.3, 0.3, 0.3], "float32")
    stable = np.asarray(thesis_dense_block(kappa, x, [first, second], 0.0))
    np.testing.assert_allclose(stable, kappa / ours, rtol=1e-5)  # M = 0: kappa / ||J||
