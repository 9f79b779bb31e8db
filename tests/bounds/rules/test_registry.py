"""The registry of layer rules: dispatch by the most specific class, refusals naming the layer and the supported
list, and the worked example of docs/design.md (UpSampling2D) against independent ground truth."""

import math

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator, CrownBounds, IntervalBounds
from kerobust.bounds.rules import RULES, LayerRule, Registry
from kerobust.bounds.rules.convolution import Conv2DRule
from kerobust.bounds.rules.dense import DenseRule
from kerobust.errors import KerobustError
from kerobust.layers import GroupedConv2D, LocalResponseNormalization

pytestmark = pytest.mark.smoke


def _built(layer, shape):
    inputs = keras.Input(shape)
    keras.Model(inputs, layer(inputs))
    return layer


def test_the_most_specific_registered_class_wins():
    assert isinstance(RULES.find(GroupedConv2D(4, 3, groups=2)), Conv2DRule)  # a Conv2D subclass

    class WiderDense(keras.layers.Dense):
        pass

    class WiderDenseRule(DenseRule):
        types = (WiderDense,)
        label = "WiderDense"

    registry = Registry([DenseRule(), WiderDenseRule()])
    assert type(registry.find(WiderDense(2))) is WiderDenseRule
    assert type(registry.find(keras.layers.Dense(2))) is DenseRule
    assert registry.find(keras.layers.Flatten()) is None


def test_a_type_has_one_rule():
    with pytest.raises(ValueError, match="two bound rules for Dense"):
        Registry([DenseRule(), DenseRule()])


def test_a_family_a_rule_does_not_implement_is_refused_with_the_generated_list():
    lrn = LocalResponseNormalization(name="lrn")
    assert RULES.rule_for(lrn, "sound").supports("thesis") and not RULES.find(lrn).supports("interval")
    with pytest.raises(KerobustError) as error:
        RULES.rule_for(lrn, "interval")
    message = str(error.value)
    assert message.startswith("no IBP / CROWN rule for layer 'lrn' (LocalResponseNormalization); supported: ")
    assert all(rule.label in message for rule in RULES.rules if rule.supports("interval"))
    assert "LocalResponseNormalization" not in message.split("supported: ")[1]
    with pytest.raises(KerobustError, match=r"no thesis-mode bound rule for layer 'ln' \(LayerNormalization\)"):
        RULES.rule_for(keras.layers.LayerNormalization(name="ln"), "thesis")


def test_a_configuration_outside_the_rule_is_refused_with_its_reason():
    layer = _built(keras.layers.UpSampling2D(interpolation="bilinear", name="up"), (3, 3, 1))
    with pytest.raises(KerobustError, match=r"'up' \(UpSampling2D\) \(bilinear interpolation; only nearest\)"):
        RULES.rule_for(layer, "sound")


def test_every_rule_declares_a_label_and_types_and_supports_some_family():
    for rule in RULES.rules:
        assert rule.label and rule.types
        assert any(rule.supports(family) for family in ("sound", "thesis", "interval", "linear", "trainable"))
    assert not LayerRule().supports("sound")


@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 2)])
def test_upsampling_lipschitz_is_the_dense_matrix_spectral_norm(size):
    shape = (3, 4, 2)
    layer = _built(keras.layers.UpSampling2D(size), shape)
    basis = np.eye(math.prod(shape), dtype="float32").reshape(-1, *shape)
    matrix = np.asarray(layer(basis), "float64").reshape(len(basis), -1).T
    exact = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(RULES.rule_for(layer, "sound").lipschitz(layer), exact, rtol=1e-6)


def _upsampling_net():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    hidden = keras.layers.UpSampling2D((2, 2))(hidden)
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(2, 3, activation="relu")(hidden))
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


def test_a_network_with_upsampling_is_bounded_below_every_sampled_margin():
    model = _upsampling_net()
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, (6, 4, 4, 1)).astype("float32")
    y = np.argmax(np.asarray(model(x)), axis=1)
    eps = 0.05
    samples = np.clip(x[None] + rng.uniform(-eps, eps, (200,) + x.shape), 0, 1).astype("float32")
    logits = np.asarray(model(samples.reshape(-1, 4, 4, 1))).reshape(200, len(x), 3)
    true = np.take_along_axis(logits, y[None, :, None], axis=2)
    sampled = np.where(np.arange(3)[None, None] == y[None, :, None], np.inf, true - logits).min(axis=2).min(axis=0)
    ibp = IntervalBounds(model, "linf", jit=False)(x, y, eps)
    crown = CrownBounds(model, "linf", jit=False)(x, y, eps)
    assert np.all(ibp <= sampled + 1e-5) and np.all(crown <= sampled + 1e-5)
    clean = np.asarray(model(x))
    np.testing.assert_allclose(IntervalBounds(model, "linf", jit=False)(x, y, 0.0),
                               np.where(np.arange(3)[None] == y[:, None], np.inf,
                                        clean[np.arange(len(x)), y][:, None] - clean).min(axis=1), atol=1e-4)
    # The sound bound on the smallest l2 perturbation lies below every decision flip found along random directions.
    sound = BoundEvaluator(model, "sound", jit=False)(x)
    directions = rng.normal(size=(64,) + x.shape[1:]).astype("float32")
    directions /= np.linalg.norm(directions.reshape(64, -1), axis=1)[:, None, None, None]
    steps = np.linspace(0.01, 20.0, 400, dtype="float32")
    flips = 0
    for i in range(len(x)):
        moved = x[i][None, None] + steps[None, :, None, None, None] * directions[:, None]
        flipped = np.argmax(np.asarray(model(moved.reshape(-1, 4, 4, 1))), axis=1).reshape(64, 400) != y[i]
        found = [steps[np.argmax(row)] for row in flipped if row.any()]
        assert sound[i] > 0 and all(sound[i] <= t for t in found)
        flips += len(found)
    assert flips > 0
