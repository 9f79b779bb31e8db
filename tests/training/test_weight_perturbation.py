"""Adversarial weight perturbation (Wu et al. 2020) against its closed form on a two-class linear model: the PGD
batch is the corner x + eps sign(w_other - w_y) (tests/training/test_training_batch_closed_form.py), the perturbation
is v = gamma ||W|| g / ||g|| with g the cross-entropy's gradient at W (the bias, one-dimensional, stays), and the SGD
step takes the gradient at W + v from W."""

import keras
import numpy as np
import pytest

from kerobust.training import AdversarialModel, AdversarialWeightPerturbation, build_training_method

pytestmark = pytest.mark.smoke

EPS, LR, GAMMA = 0.1, 0.5, 0.2


def _problem():
    rng = np.random.default_rng(0)
    x = rng.uniform(EPS, 1 - EPS, size=(16, 6)).astype("float32")
    y = np.arange(16) % 2
    weights = rng.normal(size=(6, 2)).astype("float32")
    bias = np.array([0.1, -0.2], "float32")
    return x, y, weights, bias


def _gradients(x, y, weights, bias):
    logits = x @ weights + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = p - np.eye(2)[y]
    return x.T @ residual / len(x), residual.mean(0)


def _trainer(classifier, gamma):
    trainer = AdversarialModel(classifier, build_training_method("pgd", eps=EPS, steps=3, step_size=2.5 * EPS),
                               weight_perturbation=AdversarialWeightPerturbation(gamma) if gamma else None)
    trainer.compile(optimizer=keras.optimizers.SGD(LR),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return trainer


def test_one_step_takes_the_gradient_at_the_perturbed_weights():
    x, y, weights, bias = _problem()
    classifier = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    classifier.layers[0].set_weights([weights, bias])
    _trainer(classifier, GAMMA).fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    kernel, bias_after = classifier.layers[0].get_weights()

    x64, w64 = x.astype("float64"), weights.astype("float64")
    direction = np.sign(w64[:, 1] - w64[:, 0])
    corner = x64 + EPS * np.where(y[:, None] == 0, direction, -direction)
    g, _ = _gradients(corner, y, w64, bias)
    v = GAMMA * np.linalg.norm(w64) * g / np.linalg.norm(g)
    g_kernel, g_bias = _gradients(corner, y, w64 + v, bias)
    np.testing.assert_allclose(kernel, w64 - LR * g_kernel, atol=3e-6)
    np.testing.assert_allclose(bias_after, bias - LR * g_bias, atol=3e-6)
    unperturbed, _ = _gradients(corner, y, w64, bias)
    assert np.abs(LR * (unperturbed - g_kernel)).max() > 1e-3  # the check tells AWP from plain PGD training


def test_the_pass_that_finds_the_perturbation_leaves_no_trace():
    """Batch norm on the input: its moving statistics see one update per step with AWP as without."""
    x, y, weights, bias = _problem()
    stats = []
    for gamma in (0.0, GAMMA):
        keras.utils.set_random_seed(0)
        classifier = keras.Sequential([keras.Input((6,)), keras.layers.BatchNormalization(momentum=0.5),
                                       keras.layers.Dense(2)])
        classifier.layers[1].set_weights([weights, bias])
        _trainer(classifier, gamma).fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
        stats.append(classifier.layers[0].get_weights()[2:])  # moving mean and variance
    np.testing.assert_allclose(stats[1][0], stats[0][0], atol=1e-6)
    np.testing.assert_allclose(stats[1][1], stats[0][1], atol=1e-6)
    np.testing.assert_allclose(stats[0][0], 0.5 * x.mean(0), atol=1e-6)  # one update of momentum 0.5 from 0


def test_replay_methods_refuse_it():
    classifier = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="one training batch per step"):
        AdversarialModel(classifier, build_training_method("free", eps=EPS), batch_size=8,
                         weight_perturbation=AdversarialWeightPerturbation(0.01))
