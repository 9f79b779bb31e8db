"""Batch norm folded into its neighbouring linear layer (`kerobust/bounds/folding.py`): a hand-computed case, the
Jacobian of the whole network at random points as a floor, and the unfolded product as a ceiling."""

import keras
import numpy as np
import pytest
from keras import ops

from kerobust import backend
from kerobust.bounds import BoundEvaluator
from kerobust.bounds import evaluator as evaluator_module
from kerobust.bounds.folding import batch_norm_folds

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


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
def test_folded_lipschitz_lies_between_the_network_jacobian_and_the_unfolded_product(activation, monkeypatch):
    model = _residual_model(activation)
    evaluator = BoundEvaluator(model, "sound")
    kernels, folded_norms = batch_norm_folds(evaluator.layers, [evaluator.head.features])
    assert len(kernels) == len(folded_norms) == 2  # one folds into the conv below it, one into the conv above
    folded = evaluator.lipschitz
    points = np.random.default_rng(1).normal(size=(8, 1, 6, 6, 3)).astype("float32")
    steepest = max(_features_jacobian_norm(model, x) for x in points)
    assert steepest <= folded * (1 + 1e-5)
    unfolded = _unfolded_lipschitz(model, monkeypatch)
    assert folded < unfolded
