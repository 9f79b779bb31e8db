import keras
import numpy as np
import pytest
from keras import ops

from kerobust.models import build_model
from kerobust.training import AdversarialModel, build_training_method

pytestmark = pytest.mark.smoke


def _trainer(digits, method, batch_size=64):
    keras.utils.set_random_seed(0)
    classifier = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=8)
    trainer = AdversarialModel(classifier, method, batch_size=batch_size)
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return classifier, trainer


def _input_gradient_sign(classifier, x, y):
    """sign(d cross-entropy / d x) of `classifier` in inference mode, computed before any training step."""
    from kerobust.attacks.losses import cross_entropy
    from kerobust.backend import compile_attack

    gradient = compile_attack(classifier, lambda oracle, x, y, seed: oracle.gradient(x, y), cross_entropy())
    return np.sign(ops.convert_to_numpy(gradient(ops.convert_to_tensor(x), ops.convert_to_tensor(y),
                                                 np.zeros(2, "int32"))))


@pytest.mark.parametrize("name", ["natural", "fgsm", "pgd", "trades", "alp", "mart", "free", "pni"])
def test_each_method_lowers_its_training_loss(digits, tiny_digits, name):
    x, y, _, _ = tiny_digits
    method = build_training_method(name, eps=0.1, steps=3, step_size=0.05, replays=2)
    _, trainer = _trainer(digits, method)
    history = trainer.fit(x, y, batch_size=64, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]


def test_free_training_updates_the_perturbation_with_the_sign_of_the_input_gradient(digits, tiny_digits):
    """One replay: delta = eps * sign(d loss / d x) at x (delta starts at 0); a model without batch norm or dropout
    has the same gradient in training and inference mode, so it can be computed independently beforehand."""
    x, y, _, _ = tiny_digits
    x, y = x[:32], y[:32]
    classifier, trainer = _trainer(digits, build_training_method("free", eps=0.1, replays=1), batch_size=48)
    expected = 0.1 * _input_gradient_sign(classifier, x, y)
    before = [w.copy() for w in classifier.get_weights()]
    trainer.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    delta = ops.convert_to_numpy(trainer.perturbation)
    np.testing.assert_allclose(delta[:32], expected, atol=1e-7)
    np.testing.assert_array_equal(delta[32:], 0.0)  # rows beyond the batch are untouched
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before, classifier.get_weights()))


@pytest.mark.parametrize("options, expected_step", [
    ({"step_size": 0.04}, 0.04),  # a replay step smaller than eps
    ({"warmup_steps": 4}, 0.1 / 4),  # the first of 4 warm-up steps: radius and step are a quarter of eps
    ({"step_size": 0.2, "warmup_steps": 2}, 0.1 / 2),  # a step 2 eps, halved by the warm-up, projected to eps / 2
])
def test_free_training_replay_step_and_eps_warm_up(digits, tiny_digits, options, expected_step):
    """One replay from delta = 0: delta = project(step * scale * sign(gradient), eps * scale), computed beforehand."""
    x, y, _, _ = tiny_digits
    x, y = x[:32], y[:32]
    method = build_training_method("free", eps=0.1, replays=1, **options)
    classifier, trainer = _trainer(digits, method, batch_size=32)
    sign = _input_gradient_sign(classifier, x, y)
    trainer.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(ops.convert_to_numpy(trainer.perturbation), expected_step * sign, atol=1e-7)


def test_free_training_box_keeps_x_plus_delta_in_the_box_so_its_gradient_is_never_clipped(digits, tiny_digits):
    """One replay from delta = 0 with `free_box`: delta = clip(eps sign(gradient), -x, 1 - x) (Wong et al. 2020); on
    the next batch no pixel of x + delta lies outside [0, 1]. Without it, background pixels keep delta = -eps."""
    x, y, _, _ = tiny_digits
    x, y = x[:32], y[:32]
    classifier, trainer = _trainer(digits, build_training_method("free", eps=0.1, replays=1, free_box=True), 32)
    sign = _input_gradient_sign(classifier, x, y)
    trainer.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
    delta = ops.convert_to_numpy(trainer.perturbation)
    expected = np.clip(0.1 * sign, -x, 1 - x)
    assert np.mean(expected != 0.1 * sign) > 0.2  # the box binds on many pixels (digits' zero background)
    np.testing.assert_allclose(delta, expected, atol=1e-7)
    with pytest.raises(Exception, match="free training only"):
        build_training_method("fgsm", eps=0.1, free_box=True)


def test_free_training_input_is_clipped_as_shafahi_or_left_unclipped_as_wong():
    """Shafahi et al.'s code trains on clip(x + delta, 0, 1); Wong et al.'s box variant on x + delta, whose delta
    carried over from another image may leave the box by up to eps."""
    x = np.array([[0.0, 0.5, 1.0]], "float32")
    delta = np.array([[-0.1, 0.1, 0.1]], "float32")
    clipped = build_training_method("free", eps=0.1).perturbed_input(x, delta)
    unclipped = build_training_method("free", eps=0.1, free_box=True).perturbed_input(x, delta)
    np.testing.assert_allclose(ops.convert_to_numpy(clipped), [[0.0, 0.6, 1.0]])
    np.testing.assert_allclose(ops.convert_to_numpy(unclipped), [[-0.1, 0.6, 1.1]])


def test_eps_warm_up_ramps_linearly_then_stays_at_one():
    method = build_training_method("free", eps=0.1, replays=2, warmup_steps=4)
    scales = [float(ops.convert_to_numpy(method.radius_scale(i))) for i in range(6)]
    np.testing.assert_allclose(scales, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert build_training_method("free", eps=0.1).radius_scale(0) == 1.0
    with pytest.raises(Exception, match="free training only"):
        build_training_method("pgd", eps=0.1, warmup_steps=4)


def test_free_training_perturbation_persists_and_stays_in_the_ball(digits, tiny_digits):
    x, y, _, _ = tiny_digits
    _, trainer = _trainer(digits, build_training_method("free", eps=0.1, replays=3))
    trainer.fit(x, y, batch_size=64, epochs=2, verbose=0)
    delta = ops.convert_to_numpy(trainer.perturbation)
    assert np.abs(delta).max() <= 0.1 + 1e-6 and np.abs(delta).max() > 0.05
    assert int(ops.convert_to_numpy(trainer.optimizer.iterations)) == 2 * 4 * 3  # epochs * batches * replays


def test_pgd_training_trains_on_points_inside_the_ball(digits, tiny_digits):
    method = build_training_method("pgd", eps=0.1, steps=5, step_size=0.05)
    x, y, _, _ = tiny_digits
    classifier, _ = _trainer(digits, method)
    x_adv = ops.convert_to_numpy(method.attack(classifier, x[:16], y[:16]))
    assert np.abs(x_adv - x[:16]).max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


def test_pni_batch_is_clean_plus_pgd_on_the_predicted_labels(digits, tiny_digits):
    from kerobust.attacks import PGD
    from kerobust.attacks.losses import cross_entropy
    from kerobust.backend import compile_attack
    from kerobust.training import CleanAndAdversarialTraining

    x, y, _, _ = tiny_digits
    x, y = x[:48], y[:48]
    classifier, _ = _trainer(digits, build_training_method("natural", eps=0.1))
    attack = PGD(eps=0.1, steps=3, step_size=0.05, random_start=False)
    method = CleanAndAdversarialTraining(attack=attack)
    batch = compile_attack(classifier, lambda oracle, x, y, seed: method.training_batch(oracle, x, y, None, seed)[:2],
                           cross_entropy())
    x_train, y_train = (ops.convert_to_numpy(t)
                        for t in batch(ops.convert_to_tensor(x), ops.convert_to_tensor(y), np.zeros(2, "int32")))
    predicted = np.argmax(ops.convert_to_numpy(classifier(x)), axis=-1)
    assert (predicted != y).any()  # an untrained model: predictions and labels differ, so the test can tell them apart
    expected_adv = ops.convert_to_numpy(attack(classifier, x, predicted, seed=0))
    np.testing.assert_array_equal(x_train[:48], x)
    np.testing.assert_allclose(x_train[48:], expected_adv, atol=1e-6)
    np.testing.assert_array_equal(y_train, np.concatenate([y, y]))


@pytest.mark.smoke
def test_saving_the_wrapper_saves_its_classifier_and_says_so(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    classifier = keras.Model(inputs, keras.layers.Dense(3)(inputs), name="net")
    trainer = AdversarialModel(classifier, build_training_method("free", eps=0.1), batch_size=8)
    path = tmp_path / "trainer.keras"
    with pytest.warns(UserWarning, match="AdversarialModel.save saves its classifier 'net'"):
        trainer.save(path)
    reloaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(classifier(x)))
    assert reloaded.name == "net" and not any("perturbation" in w.path for w in reloaded.weights)
