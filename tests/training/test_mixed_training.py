"""MAT-Rand / MAT-Max (Araujo et al. 2020) and mixed natural / adversarial batches."""

import keras
import numpy as np
import pytest

from kerobust.attacks import PGD
from kerobust.backend import compile_attack
from kerobust.errors import KerobustError
from kerobust.models import build_model
from kerobust.training import MixedNormTraining, build_training_method

pytestmark = pytest.mark.smoke

LINF, L2 = 0.05, 1.0


@pytest.fixture(scope="module")
def classifier(digits):
    keras.utils.set_random_seed(0)
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, epochs=3, batch_size=64, verbose=0)
    return model


def _batch_maker(classifier, method):
    """`make(x, y, seed)`: the method's training batch, compiled once."""
    run = compile_attack(classifier, lambda oracle, x, y, seed: method.training_batch(oracle, x, y, None, seed)[0],
                         method.loss_fn)
    return lambda x, y, seed: np.asarray(run(x, y, np.array([seed, 0], "int32")))


def _training_batch(classifier, method, x, y, seed):
    return _batch_maker(classifier, method)(x, y, seed)


def _norms(delta):
    flat = delta.reshape(len(delta), -1)
    return np.abs(flat).max(axis=1), np.sqrt((flat ** 2).sum(axis=1))


@pytest.mark.slow_on_jax
def test_mat_rand_attacks_a_random_half_in_each_norm(classifier, digits):
    x, y = digits.x_test[:64], digits.y_test[:64]
    method = build_training_method("mat-rand", eps=LINF, steps=5, l2_eps=L2)
    halves, make = [], _batch_maker(classifier, method)
    for seed in (0, 1):
        linf, l2 = _norms(make(x, y, seed) - x)
        in_linf_ball = linf <= LINF + 1e-6
        assert in_linf_ball.sum() == 32  # the l2 half moves single pixels far beyond 0.05
        assert np.all(l2[~in_linf_ball] <= L2 + 1e-5) and np.all(l2[~in_linf_ball] > 0.5)
        halves.append(in_linf_ball)
    assert np.any(halves[0] != halves[1])  # the split is drawn afresh


@pytest.mark.slow_on_jax
def test_mat_max_keeps_the_more_damaging_example_per_point(classifier, digits):
    x, y = digits.x_test[:48], digits.y_test[:48]
    method = build_training_method("mat-max", eps=0.1, steps=5, l2_eps=0.5)  # radii of similar strength
    chosen = _training_batch(classifier, method, x, y, 3)
    seed = np.array([3, 0], "int32")
    both = [
        np.asarray(compile_attack(classifier, attack.perturb, method.loss_fn)(x, y, seed + offset))
        for attack, offset in ((method.linf_attack, 0), (method.l2_attack, 1))
    ]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    losses = [np.asarray(loss(y, classifier(b))) for b in both]
    expected = np.where((losses[0] >= losses[1])[:, None, None, None], both[0], both[1])
    np.testing.assert_allclose(chosen, expected, atol=1e-6)
    assert 0 < (losses[0] >= losses[1]).sum() < len(x)  # both norms win somewhere


@pytest.mark.parametrize("mix", ["batch", "example"])
def test_mixed_batches_are_adversarial_in_the_given_share(classifier, digits, mix):
    x, y = digits.x_test[:40], digits.y_test[:40]
    method = build_training_method("pgd", eps=LINF, steps=3, adversarial_share=0.7, mix=mix)
    make = _batch_maker(classifier, method)
    changed = np.array([np.abs(make(x, y, seed) - x).reshape(len(x), -1).max(axis=1) > 0 for seed in range(30)])
    if mix == "batch":
        assert np.all(changed.all(axis=1) | ~changed.any(axis=1))  # whole batches are natural or adversarial
        share = changed[:, 0].mean()
        assert 0.45 <= share <= 0.9
    else:
        assert 0.6 <= changed.mean() <= 0.8
        assert changed.any(axis=1).all() and not changed.all(axis=1).all()


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("name, options", [("mat-rand", {}), ("mat-max", {}), ("pgd", {"adversarial_share": 0.5})])
def test_mixed_methods_train(digits, tiny_digits, name, options):
    from kerobust.training import AdversarialModel

    x, y, _, _ = tiny_digits
    keras.utils.set_random_seed(0)
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    method = build_training_method(name, eps=LINF, steps=3, l2_eps=L2, **options)
    trainer = AdversarialModel(model, method, batch_size=64)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = trainer.fit(x, y, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]


def test_bad_mixes_are_refused():
    with pytest.raises(KerobustError, match="adversarial share below 1 needs"):
        build_training_method("free", eps=0.1, adversarial_share=0.9)
    with pytest.raises(KerobustError, match="in \\(0, 1\\]"):
        build_training_method("pgd", eps=0.1, adversarial_share=0.0)
    with pytest.raises(KerobustError, match="l2 radius"):
        build_training_method("mat-rand", eps=0.1)
    with pytest.raises(KerobustError, match="keep --threat-norm linf"):
        build_training_method("mat-max", eps=0.1, l2_eps=1.0, norm="l2")
    with pytest.raises(KerobustError, match="unknown mix"):
        build_training_method("pgd", eps=0.1, mix="rows")
    assert isinstance(build_training_method("mat-max", eps=0.1, l2_eps=1.0), MixedNormTraining)
    assert build_training_method("mat-rand", eps=0.1, l2_eps=1.0).l2_attack == PGD(eps=1.0, norm="l2", steps=10)
