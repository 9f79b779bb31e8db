"""Batch norm folded into its neighbouring linear layer (`kerobust/bounds/lipschitz/folding.py`): a hand-computed
case, the Jacobian of the whole network at random points as a floor, and the unfolded product as a ceiling."""

import keras
import numpy as np
import pytest
from keras import ops

from kerobust import backend
from kerobust.bounds import BoundEvaluator
from kerobust.bounds.lipschitz import evaluator as evaluator_module
from kerobust.bounds.lipschitz.folding import batch_norm_folds

pytestmark = pytest.mark.smoke


def _set_batch_norm(layer, gamma, rng=None):
    layer.gamma.assign(np.asarray(gamma, "float32"))
    layer.moving_variance.assign(np.full(len(gamma), 1.0 - layer.epsilon, "float32"))  # sigma = 1: g = gamma
    if rng is not None:
        layer.moving_mean.assign(rng.normal(size=len(gamma)).astype("float32"))
        layer.beta.assign(rng.normal(size=len(gamma)).astype("float32"))


def _unfolded_lipschitz(model, monkeypatch):
    monkeypatch.setattr(evaluator_module, "batch_norm_folds", lambda layers, readers: ({}, set()))
    return BoundEvaluator(model, "sound").lipschitz


def test_folding_a_batch_norm_into_the_conv_below_it_is_exact_by_hand(monkeypatch):
    """1x1 conv diag(10, 1), then batch norm with g = (0.1, 10): the map is diag(1, 10) at every pixel, norm 10;
    the layers' separate constants multiply to 10 * 10 = 100."""
    inputs = keras.Input((3, 3, 2))
    conv = keras.layers.Conv2D(2, 1, use_bias=False)
    bn = keras.layers.BatchNormalization()
    features = keras.layers.Flatten()(bn(conv(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3)(features))
    conv.kernel.assign(np.diag([10.0, 1.0]).reshape(1, 1, 2, 2).astype("float32"))
    _set_batch_norm(bn, [0.1, 10.0])
    assert BoundEvaluator(model, "sound").lipschitz == pytest.approx(10.0, rel=1e-5)
    assert _unfolded_lipschitz(model, monkeypatch) == pytest.approx(100.0, rel=1e-5)


def _residual_model(activation):
    """conv-BN (folds down), a residual Add, then BN-activation-conv (folds up), a pre-activation block as in WRN."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", activation=activation)(inputs)
    bn_down = keras.layers.BatchNormalization()
    a = bn_down(a)
    b = keras.layers.Conv2D(4, 1)(inputs)
    merged = keras.layers.Add()([a, b])
    bn_up = keras.layers.BatchNormalization()
    c = keras.layers.Conv2D(5, 3, strides=2, padding="same")(keras.layers.Activation(activation)(bn_up(merged)))
    features = keras.layers.GlobalAveragePooling2D()(c)
    model = keras.Model(inputs, keras.layers.Dense(3)(features))
    for layer in (bn_down, bn_up):
        _set_batch_norm(layer, rng.choice([-1.0, 1.0], 4) * np.geomspace(0.05, 20.0, 4), rng)
    return model


def _features_jacobian_norm(model, x):
    """||d features / d x||_2 at `x` (one sample), from one gradient per feature."""
    features = keras.Model(model.inputs, model.layers[-1].input)
    rows = [
        np.asarray(backend.gradient(lambda z, i=i: ops.sum(features(z)[:, i]), x)).reshape(-1)
        for i in range(features.output.shape[-1])
    ]
    return np.linalg.norm(np.array(rows), 2)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
def test_folded_lipschitz_lies_between_the_network_jacobian_and_the_unfolded_product(activation, monkeypatch):
    model = _residual_model(activation)
    evaluator = BoundEvaluator(model, "sound")
    kernels, folded_batch_norms = batch_norm_folds(evaluator.layers, [evaluator.head.features])
    assert len(kernels) == len(folded_batch_norms) == 2  # one folds into the conv below it, one into the conv above
    folded = evaluator.lipschitz
    points = np.random.default_rng(1).normal(size=(8, 1, 6, 6, 3)).astype("float32")
    steepest = max(_features_jacobian_norm(model, x) for x in points)
    assert steepest <= folded * (1 + 1e-5)
    unfolded = _unfolded_lipschitz(model, monkeypatch)
    assert folded < unfolded


def _spread_batch_norms(model, seed=0):
    """Per-channel scales spanning 0.01..30 with random signs, so folding where it should not shows up."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            _set_batch_norm(layer, rng.choice([-1.0, 1.0], channels) * np.geomspace(0.01, 30.0, channels), rng)
    return model


def _conv(filters, **options):
    return keras.layers.Conv2D(filters, 3, padding="same", **options)


def _tensor_read_twice_below():
    """The conv's output feeds its batch norm and, unnormalised, an Add: the batch norm must not fold into it."""
    inputs = keras.Input((5, 5, 2))
    a = _conv(4)(inputs)
    merged = keras.layers.Add()([keras.layers.BatchNormalization()(a), a])
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(merged))), 0


def _tensor_read_twice_above(activation_between):
    """A batch norm (or its activation) feeding two convs: folding into one would leave the other unscaled."""
    inputs = keras.Input((5, 5, 2))
    merged = keras.layers.Add()([_conv(4)(inputs), _conv(4)(inputs)])
    hidden = keras.layers.BatchNormalization()(merged)
    if activation_between:
        hidden = keras.layers.Activation("linear")(hidden)
    out = keras.layers.Add()([_conv(3)(hidden), _conv(3)(hidden)])
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(out))), 0


def _depthwise_and_dense_on_feature_maps():
    """Depthwise (multiplier 2) -> BN folds down; Dense on a 4-D tensor -> BN folds down; BN -> activation ->
    depthwise folds up."""
    inputs = keras.Input((5, 5, 2))
    hidden = keras.layers.BatchNormalization()(
        keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(inputs))
    hidden = keras.layers.BatchNormalization()(keras.layers.Dense(3)(hidden))
    merged = keras.layers.Add()([hidden, _conv(3)(inputs)])
    hidden = keras.layers.Activation("linear")(keras.layers.BatchNormalization()(merged))
    hidden = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(hidden)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(hidden))), 3


def _features_matrix_norm(model):
    """The exact l2 norm of a linear (affine) network's map from the input to the head's input."""
    features = keras.Model(model.inputs, model.layers[-1].input)
    shape = tuple(model.inputs[0].shape[1:])
    size = int(np.prod(shape))
    basis = np.eye(size, dtype="float32").reshape(size, *shape)
    offset = np.asarray(features(np.zeros((1, *shape), "float32")), "float64").reshape(1, -1)
    matrix = np.asarray(features(basis), "float64").reshape(size, -1) - offset
    return np.linalg.svd(matrix, compute_uv=False)[0]


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("build", [
    _tensor_read_twice_below, lambda: _tensor_read_twice_above(False), lambda: _tensor_read_twice_above(True),
    _depthwise_and_dense_on_feature_maps,
], ids=["read-twice-below", "read-twice-above", "read-twice-after-activation", "depthwise-and-dense"])
def test_folding_stays_an_upper_bound_on_linear_networks(build):
    keras.utils.set_random_seed(3)
    model, expected_folds = build()
    _spread_batch_norms(model)
    evaluator = BoundEvaluator(model, "sound")
    kernels, folded_batch_norms = batch_norm_folds(evaluator.layers, [evaluator.head.features])
    assert len(folded_batch_norms) == expected_folds
    assert _features_matrix_norm(model) <= evaluator.lipschitz * (1 + 1e-5)
