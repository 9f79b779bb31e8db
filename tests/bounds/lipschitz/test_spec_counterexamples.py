"""The counterexamples of docs/bounds.md section 8 as tests: thesis mode reproduces the value of the rules of Peck
(2017), "Robustness of Classifiers to Adversarial Perturbations", which exceeds the true minimal perturbation; sound
mode stays below it."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator

pytestmark = pytest.mark.smoke


def _binary_head(features, w, b):
    """A two-class Dense head whose decision is class 1 iff w . y + b >= 0 (logit difference w . y + b)."""
    head = keras.layers.Dense(2, name="head")
    head.build((None, features))
    head.set_weights([np.stack([np.zeros(features), w], axis=1).astype("float32"), np.array([0.0, b], "float32")])
    return head


@pytest.mark.slow_on_jax
def test_e4_convolution():
    """8x8 single-channel input, 2x2 all-ones kernel (stride 1, valid), binary head w = 1_49, b = -1, at x = 0:
    kappa = 1/7; thesis 1/14 ~ 0.0714; true minimum 1/26 ~ 0.0385; sound 1/28 ~ 0.0357."""
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(1, 2, use_bias=False, name="conv")
    features = keras.layers.Flatten()(conv(inputs))
    model = keras.Model(inputs, _binary_head(49, np.ones(49), -1.0)(features))
    conv.set_weights([np.ones((2, 2, 1, 1), "float32")])
    x = np.zeros((1, 8, 8, 1), "float32")
    thesis, sound = BoundEvaluator(model, "thesis")(x)[0], BoundEvaluator(model, "sound")(x)[0]
    # The true minimum: r along the window multiplicities m (the gradient of sum(conv(x))), scaled to reach the
    # boundary.
    multiplicity = np.zeros((8, 8))
    for i in range(7):
        for j in range(7):
            multiplicity[i:i + 2, j:j + 2] += 1
    true_minimum = 1.0 / np.linalg.norm(multiplicity)
    assert true_minimum == pytest.approx(1 / 26)
    predict = lambda r: int(np.argmax(model(x + r.reshape(1, 8, 8, 1).astype("float32"))))  # noqa: E731
    direction = multiplicity / np.linalg.norm(multiplicity)
    assert predict(direction * true_minimum * 1.001) == 1 and predict(direction * true_minimum * 0.999) == 0
    assert thesis == pytest.approx(1 / 14, rel=1e-5) and thesis > true_minimum
    assert sound == pytest.approx(1 / 28, rel=1e-5) and sound <= true_minimum


def test_e6_batch_norm():
    """Identity BN at x = (0, 10), binary head w = e_1, b = -1: Delta = kappa = 1; thesis max rule 3.24; sound 1."""
    inputs = keras.Input((2,))
    bn = keras.layers.BatchNormalization(epsilon=1e-3, name="bn")
    model = keras.Model(inputs, _binary_head(2, np.array([1.0, 0.0]), -1.0)(bn(inputs)))
    bn.set_weights([np.ones(2), np.zeros(2), np.zeros(2), np.full(2, 1 - 1e-3)])  # gamma, beta, mean, var: identity
    x = np.array([[0.0, 10.0]], "float32")
    thesis, sound = BoundEvaluator(model, "thesis")(x)[0], BoundEvaluator(model, "sound")(x)[0]
    assert thesis == pytest.approx(3.2404, abs=1e-3) and thesis > 1.0  # the true minimum is 1 (move x_1 to 1)
    assert sound == pytest.approx(1.0, rel=1e-5)
    assert int(np.argmax(model(x + np.array([[1.001, 0.0]], "float32")))) == 1


@pytest.mark.slow_on_jax
def test_e2_relu_in_a_dense_block():
    """h = relu(x) on one input, binary head h - c (c = 0.01), at x = -0.001: the unit is off, so J = 0 and the
    thesis's Theorem 4.2 with B_ReLU = 1 (M = 1) gives sqrt(2 c) = 0.141; the true minimum is c + 0.001 = 0.011 (x
    must reach c); sound mode gives c / 1 = 0.01."""
    inputs = keras.Input((1,))
    hidden = keras.layers.Dense(1, activation="relu", name="hidden")
    model = keras.Model(inputs, _binary_head(1, np.array([1.0]), -0.01)(hidden(inputs)))
    hidden.set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    x = np.array([[-0.001]], "float32")
    thesis, sound = BoundEvaluator(model, "thesis")(x)[0], BoundEvaluator(model, "sound")(x)[0]
    assert int(np.argmax(model(x + 0.011 * 1.001))) == 1 and int(np.argmax(model(x + 0.011 * 0.999))) == 0
    assert thesis == pytest.approx(np.sqrt(0.02), rel=1e-4) and thesis > 0.011
    assert sound == pytest.approx(0.01, rel=1e-4) and sound <= 0.011


def test_e7_local_response_normalisation():
    """LRN with n = 1 (each channel on its own), k = 1, alpha = 1e-4, beta = 0.75 on x = (0, 10), binary head
    w = e_1, b = -1: kappa = 1 and the true minimum moves x_1 to the root of x (1 + alpha x^2)^-beta = 1 (1.00008).
    Theorem 5.9 takes the max over Delta, and channel 1's delta = -(||b|| + 1) / sqrt 2 = -7.73 gives 7.59: the
    max over Delta is unjustified (Lemma 5.8). Sound: k^-beta (1 + beta (w - 1)) = 1, so kappa / 1 = 1."""
    from kerobust.layers import LocalResponseNormalization

    k, alpha, beta = 1.0, 1e-4, 0.75
    inputs = keras.Input((1, 1, 2))
    lrn = LocalResponseNormalization(k=k, n=1, alpha=alpha, beta=beta)
    model = keras.Model(inputs, _binary_head(2, np.array([1.0, 0.0]), -1.0)(keras.layers.Flatten()(lrn(inputs))))
    x = np.array([0.0, 10.0], "float32").reshape(1, 1, 1, 2)
    thesis, sound = BoundEvaluator(model, "thesis")(x)[0], BoundEvaluator(model, "sound")(x)[0]
    # Theorem 5.9 by hand: channel 1 (x_1 = 0) has b = 0, gradient 1 and delta = -(||b|| + 1) / sqrt 2.
    b = 10.0 * (k + alpha * 100.0) ** -beta
    delta = -(b + 1.0) / np.sqrt(2.0)
    m = 4 * alpha**2 * beta * (beta + 1) * 10.0**3 * k ** (-beta - 2) + 6 * alpha * beta * 10.0 * k ** (-beta - 1)
    expected = 2 * abs(delta) / (1.0 + np.sqrt(1.0 + 2 * m * abs(delta)))
    low, high = 1.0, 2.0  # bisection for the true minimum: b_1(t) = t (1 + alpha t^2)^-beta reaches 1
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if middle * (k + alpha * middle**2) ** -beta < 1.0 else (low, middle)
    true_minimum = high
    assert int(np.argmax(model(x + np.array([1.001 * true_minimum, 0.0], "float32").reshape(1, 1, 1, 2)))) == 1
    assert thesis == pytest.approx(expected, rel=1e-4) and thesis > 7 * true_minimum
    assert sound == pytest.approx(1.0, rel=1e-5) and sound <= true_minimum


def test_thesis_mode_refuses_residual_models_and_sound_mode_names_unknown_layers():
    from kerobust.errors import KerobustError

    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Add(name="skip")([inputs, hidden])))
    with pytest.raises(KerobustError, match="thesis mode covers chains of layers only; 'skip'"):
        BoundEvaluator(model, "thesis")
    assert BoundEvaluator(model, "sound")(np.ones((2, 4), "float32")).shape == (2,)
    odd = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.LayerNormalization(name="ln"),
                            keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(KerobustError, match="no sound-mode bound rule for layer 'ln' \\(LayerNormalization\\)"):
        BoundEvaluator(odd, "sound")
    with pytest.raises(KerobustError, match="unknown bound mode 'exact'"):
        BoundEvaluator(model, "exact")
