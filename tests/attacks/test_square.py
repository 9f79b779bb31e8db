"""The Square Attack (Andriushchenko et al. 2020) against ground truth: the window schedule and the l2 bump computed
by hand, the l-inf ball and box, score-only access (a model with zero input gradients, an oracle whose gradient
raises), the query count, the random search only ever lowering the margin loss, and a naturally trained digits
network."""


import keras
import numpy as np
import pytest
from keras import ops

from kerobust.attacks import PGD
from kerobust.attacks.square import Square, l2_bump, square, window_fraction, window_sides
from kerobust.backend.oracle import Oracle
from kerobust.errors import KerobustError


def _margins(model, x, y):
    """z_y - max_{j != y} z_j per point, in NumPy."""
    z = np.asarray(ops.convert_to_numpy(model(x, training=False)), "float64")
    true = z[np.arange(len(y)), y]
    z[np.arange(len(y)), y] = -np.inf
    return true - z.max(axis=1)


def _accuracy(model, x, y):
    return float((np.argmax(ops.convert_to_numpy(model(x, training=False)), axis=-1) == y).mean())


@pytest.mark.smoke
def test_window_schedule_matches_hand_computed_values():
    # 10,000 queries: p = 0.8 until iteration 10, halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000.
    assert [window_fraction(k, 10000, 0.8) for k in (0, 10, 11, 50, 51, 8000, 8001, 9999)] == [
        0.8, 0.8, 0.4, 0.4, 0.2, 0.8 / 256, 0.8 / 512, 0.8 / 512,
    ]
    # 1,000 queries: iteration k counts as k * 10: 1 -> 10 (p_init), 2 -> 20 (halved once), 6 -> 60 (twice).
    assert [window_fraction(k, 1000, 0.8) for k in (1, 2, 5, 6, 20, 21)] == [0.8, 0.4, 0.4, 0.2, 0.2, 0.1]
    # 32x32 (CIFAR-10), 10,000 queries: round(sqrt(p * 1024)) = 29, 20, 14, 10, 7, 5, 4, 3, 2, 1.
    sides = window_sides(10000, 0.8, 32, 32)
    assert len(sides) == 9999 and sides.dtype == np.int32
    starts = (0, 11, 51, 201, 501, 1001, 2001, 4001, 6001, 8001)
    assert [int(sides[k]) for k in starts] == [29, 20, 14, 10, 7, 5, 4, 3, 2, 1]
    assert [int(sides[k - 1]) for k in starts[1:]] == [29, 20, 14, 10, 7, 5, 4, 3, 2]  # changes exactly there
    # 8x8 digits: sqrt(0.8 * 64) = 7.2 -> 7 = H - 1; 5.1 -> 5; 3.6 -> 4; 2.5 -> 3; 1.8 -> 2; 1.3 -> 1; 0.9 -> 1.
    sides = window_sides(10000, 0.8, 8, 8)
    assert [int(sides[k]) for k in (0, 11, 51, 201, 501, 1001, 2001)] == [7, 5, 4, 3, 2, 1, 1]
    assert int(window_sides(100, 1.0, 8, 8)[0]) == 7  # sqrt(64) = 8 is clipped to H - 1
    assert window_sides(1, 0.8, 8, 8).shape == (1,)  # no iterations: one unused entry


@pytest.mark.smoke
def test_l2_bump_follows_equation_2():
    # side 4: two halves of 2 x 4, centre (1, 2), n = 2; distance d gets sum_{m=d+1}^{3} 1/m^2: 49/36, 13/36, 4/36.
    half = np.array([[4, 13, 13, 13], [4, 13, 49, 13]], "float64") / 36
    expected = np.concatenate([half, -half])
    np.testing.assert_allclose(l2_bump(4), expected / np.linalg.norm(expected), rtol=1e-12)
    assert abs(l2_bump(1)[0, 0]) == 1.0
    for side in range(1, 8):
        assert abs(np.linalg.norm(l2_bump(side)) - 1.0) < 1e-12


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_perturbation_stays_in_the_ball_and_the_box(linear_digits, digits, norm, eps):
    model, _, _ = linear_digits
    x, y = digits.x_test[:64], digits.y_test[:64]
    x_adv = np.asarray(Square(eps=eps, norm=norm, queries=60)(model, x, y, seed=3))
    delta = (x_adv - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert size.max() <= eps + 1e-6 and x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert size.min() > 0.5 * eps  # the attack does perturb every point
    if norm == "linf":  # Algorithm 2 only ever writes x +- eps (clipped to the box) into a pixel
        low, high = np.clip(x - eps, 0, 1), np.clip(x + eps, 0, 1)
        assert np.all(np.minimum(np.abs(x_adv - low), np.abs(x_adv - high)) <= 1e-6)
    else:  # Algorithm 3 keeps the perturbation on the sphere (inside it only where the box clips)
        x_open = np.asarray(Square(eps=eps, norm=norm, queries=60, clip_min=None, clip_max=None)(model, x, y))
        np.testing.assert_allclose(np.linalg.norm((x_open - x).reshape(len(x), -1), axis=1), eps, rtol=1e-5)


class _ZeroGradientRound(keras.layers.Layer):
    """Rounds to the digits' grid of 1/16: the model's input gradient is zero everywhere."""

    def call(self, x):
        return ops.stop_gradient(ops.round(x * 16.0) / 16.0) + 0.0 * x


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_a_model_with_zero_gradients_is_attacked_by_square_but_not_by_pgd(linear_digits, digits):
    linear, _, _ = linear_digits
    inputs = keras.Input(digits.input_shape)
    model = keras.Model(inputs, linear(_ZeroGradientRound()(inputs)))
    x, y = digits.x_test[:128], digits.y_test[:128]
    eps = 0.2
    assert np.array_equal(np.asarray(PGD(eps=eps, steps=3, random_start=False)(model, x, y)), x)  # no gradient
    pgd_accuracy = _accuracy(model, np.asarray(PGD(eps=eps, steps=20)(model, x, y)), y)
    square_accuracy = _accuracy(model, np.asarray(Square(eps=eps, queries=300)(model, x, y)), y)
    assert _accuracy(model, x, y) > 0.9 and pgd_accuracy > 0.85
    assert square_accuracy < 0.3, (square_accuracy, pgd_accuracy)


def _counting_oracle(model):
    """An oracle of the margin loss that counts forward passes and refuses gradients (eager TensorFlow)."""
    calls = {"forward": 0}
    loss = Square(eps=0.1).loss_fn(from_logits=True)

    def gradient(x, y):
        raise AssertionError("Square asked for a gradient")

    def logits(x):
        calls["forward"] += 1
        return model(x, training=False)

    return Oracle(gradient=gradient, logits=logits, losses=lambda x, y: loss(y, logits(x), per_sample=True),
                  loss=loss, logits_and_gradient=gradient), calls


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_it_costs_queries_forward_passes_and_no_gradient(linear_digits, digits, norm):
    model, _, _ = linear_digits
    x, y = digits.x_test[:32], digits.y_test[:32]
    correct = np.argmax(ops.convert_to_numpy(model(x)), axis=-1) == y
    x, y = ops.convert_to_tensor(x[correct]), ops.convert_to_tensor(y[correct])
    seed = ops.convert_to_tensor(np.array([0, 0], "int32"))
    oracle, calls = _counting_oracle(model)
    Square(eps=0.0, norm=norm, queries=25).perturb(oracle, x, y, seed)  # eps 0: nobody is ever fooled
    assert calls["forward"] == 25
    oracle, calls = _counting_oracle(model)
    x_adv = Square(eps=1.0, norm="linf", queries=25).perturb(oracle, x, y, seed)  # all fooled in a few steps
    assert calls["forward"] < 25 and np.all(_margins(model, np.asarray(x_adv), np.asarray(y)) < 0)  # then it stops


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_the_margin_loss_never_increases_with_more_queries(linear_digits, digits, norm, eps):
    model, _, _ = linear_digits
    x, y = digits.x_test[:64], digits.y_test[:64]
    # p_init = 0.01 gives 1 x 1 windows at every iteration whatever queries is, so with one seed a longer run
    # repeats a shorter one's iterations and then continues; random search only accepts decreases.
    runs = [_margins(model, np.asarray(Square(eps=eps, norm=norm, queries=q, p_init=0.01)(model, x, y)), y)
            for q in (1, 10, 200)]
    for shorter, longer in zip(runs, runs[1:]):
        assert np.all(longer <= shorter + 1e-5)
    assert runs[-1].mean() < runs[1].mean() - 0.1  # and the search does make progress
    # With the default schedule runs of different lengths share only the initialisation (and never rise above it).
    start = runs[0]
    default = _margins(model, np.asarray(Square(eps=eps, norm=norm, queries=100)(model, x, y)), y)
    assert np.all(default <= start + 1e-5) and default.mean() < start.mean()


@pytest.mark.slow_on_jax
@pytest.mark.smoke
def test_points_stop_changing_once_misclassified(linear_digits, digits):
    model, _, _ = linear_digits
    x, y = digits.x_test[:128], digits.y_test[:128]
    attack = lambda q: np.asarray(Square(eps=0.25, queries=q, p_init=0.01)(model, x, y, seed=1))  # noqa: E731
    x_short, x_long = attack(10), attack(40)  # the long run repeats the short one's 9 iterations, then goes on
    fooled = _margins(model, x_short, y) < 0
    assert 0 < fooled.sum() < len(x) - 10
    np.testing.assert_array_equal(x_long[fooled], x_short[fooled])
    assert np.any(x_long[~fooled] != x_short[~fooled])


def test_square_lowers_the_accuracy_of_a_naturally_trained_network(natural_digits_net, digits):
    model = natural_digits_net
    x, y = digits.x_test[:256], digits.y_test[:256]
    clean = _accuracy(model, x, y)
    start_only = _accuracy(model, np.asarray(square(model, x, y, eps=0.2, queries=1)), y)
    searched = _accuracy(model, np.asarray(square(model, x, y, eps=0.2, queries=300)), y)
    pgd_accuracy = _accuracy(model, np.asarray(PGD(eps=0.2, steps=20)(model, x, y)), y)
    assert clean > 0.9 and start_only > 0.6  # the stripes alone do not fool the network
    assert searched < 0.15 and searched <= pgd_accuracy + 0.1, (searched, pgd_accuracy)


def test_probability_outputs_are_attacked_through_log_probabilities(natural_digits_net, digits):
    inputs = keras.Input(digits.input_shape)
    probabilities = keras.Model(inputs, keras.layers.Softmax()(natural_digits_net(inputs)))
    x, y = digits.x_test[:128], digits.y_test[:128]
    on_logits = np.asarray(Square(eps=0.2, queries=100)(natural_digits_net, x, y, seed=5))
    on_probabilities = np.asarray(Square(eps=0.2, queries=100)(probabilities, x, y, seed=5))
    # The margin of log-softmax equals the margin of the logits, so both runs accept the same candidates.
    assert np.mean(np.all(np.abs(on_logits - on_probabilities) < 1e-6, axis=(1, 2, 3))) > 0.95


@pytest.mark.smoke
def test_bad_arguments_are_clear_errors(digits):
    with pytest.raises(KerobustError, match="queries >= 1"):
        Square(eps=0.1, queries=0)
    for p_init in (0.0, 1.5):
        with pytest.raises(KerobustError, match="p_init"):
            Square(eps=0.1, p_init=p_init)
    with pytest.raises(KerobustError, match="margin loss only"):
        Square(eps=0.1, loss="ce")
    with pytest.raises(KerobustError, match="norm"):
        Square(eps=0.1, norm="l1")
    with pytest.raises(KerobustError, match="eps"):
        Square(eps=-0.1)
    with pytest.raises(KerobustError, match="eot_samples"):
        Square(eps=0.1, eot_samples=4)
    flat = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(KerobustError, match="image batches"):
        Square(eps=0.1, queries=2)(flat, digits.x_test[:4].reshape(4, 64), digits.y_test[:4])


def test_describe_and_steps():
    attack = Square(eps=0.05, queries=1000)
    assert attack.steps == 1000 and attack.describe() == "Square-1000 linf eps=0.05"
