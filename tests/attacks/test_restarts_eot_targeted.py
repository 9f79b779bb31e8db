"""PGD restarts and targeted mode, and expectation over transformation (EOT) for randomised models."""

import keras
import numpy as np
import pytest

from kerobust.attacks import PGD
from kerobust.backend import compile_attack
from kerobust.attacks.losses import cross_entropy
from kerobust.errors import KerobustError

pytestmark = pytest.mark.smoke


def _predict(model, x):
    return np.asarray(model(x)).argmax(axis=1)


@pytest.mark.slow_on_jax
def test_restarts_fool_every_point_a_single_run_fools_and_more(natural_digits_net, digits):
    # A weak attack, so that the random start matters, on the whole test split: on 128 points 4 restarts once fooled
    # no point more than the single run (7 against 7, JAX backend).
    x, y = digits.x_test, digits.y_test
    weak = dict(eps=0.05, steps=1, step_size=0.01)
    single = _predict(natural_digits_net, PGD(**weak)(natural_digits_net, x, y, seed=4)) != y
    restarted = _predict(natural_digits_net, PGD(**weak, restarts=8)(natural_digits_net, x, y, seed=4)) != y
    assert np.all(restarted[single])  # the first restart is the single run
    assert restarted.sum() > single.sum()


@pytest.mark.slow_on_jax
def test_targeted_pgd_reaches_the_given_class(natural_digits_net, digits):
    x, y = digits.x_test[:128], digits.y_test[:128]
    target = (y + 1) % 10
    x_adv = np.asarray(PGD(eps=0.2, steps=20, targeted=True)(natural_digits_net, x, target))
    untargeted = np.asarray(PGD(eps=0.2, steps=20)(natural_digits_net, x, y))
    reached = (_predict(natural_digits_net, x_adv) == target).mean()
    # 0.68, 0.08 (TF)
    assert reached > 0.5 and reached > (_predict(natural_digits_net, untargeted) == target).mean() + 0.3
    assert np.abs(x_adv - x).max() <= 0.2 + 1e-6
    with pytest.raises(KerobustError, match="either targeted"):
        PGD(eps=0.1, targeted=True, targets=3)
    assert PGD(eps=0.1, targeted=True, restarts=2).describe() == "PGD-10 linf eps=0.1 x2 restarts targeted"


@pytest.mark.slow_on_jax
def test_eot_on_a_deterministic_model_changes_nothing(natural_digits_net, digits):
    x, y = digits.x_test[:64], digits.y_test[:64]
    plain = np.asarray(PGD(eps=0.1, steps=5)(natural_digits_net, x, y, seed=1))
    averaged = np.asarray(PGD(eps=0.1, steps=5, eot_samples=3)(natural_digits_net, x, y, seed=1))
    np.testing.assert_allclose(averaged, plain, atol=1e-6)


@pytest.fixture(scope="module")
def noisy_digits_net(digits):
    """A digits network with Gaussian noise (std 0.3) on its input, in training and at inference."""
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8, input_noise=0.3)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, batch_size=64, epochs=10, verbose=0)
    return model


@pytest.mark.slow_on_jax
def test_every_draw_index_sees_fresh_noise(noisy_digits_net, natural_digits_net, digits):
    x, y = digits.x_test[:32], digits.y_test[:32]

    def gradient_change(model):
        run = compile_attack(model, lambda o, x, y, s: o.gradient(x, y, draw=1) - o.gradient(x, y, draw=2),
                             cross_entropy())
        return float(np.abs(np.asarray(run(x, y, np.zeros(2, "int32")))).max())

    assert gradient_change(noisy_digits_net) > 1e-3
    assert gradient_change(natural_digits_net) == 0.0


@pytest.mark.slow_on_jax
def test_eot_pgd_lowers_the_accuracy_of_a_noise_injected_model(noisy_digits_net, digits):
    """Accuracy of a randomised model is itself random: it is averaged over 20 noise draws per adversarial batch.
    Measured: PGD-10 56.2 %, EOT-10 PGD-10 51.9 % (two seeds each, within 0.5 points)."""
    x, y = digits.x_test, digits.y_test

    def expected_accuracy(x_adv):
        return np.mean([(_predict(noisy_digits_net, x_adv) == y).mean() for _ in range(20)])

    plain = expected_accuracy(PGD(eps=0.1, steps=10)(noisy_digits_net, x, y, seed=0))
    eot = expected_accuracy(PGD(eps=0.1, steps=10, eot_samples=10)(noisy_digits_net, x, y, seed=0))
    assert eot < plain - 0.02, (eot, plain)
