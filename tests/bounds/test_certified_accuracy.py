"""The certified-accuracy metric equals the share of correct points whose sound bound reaches eps, and follows the
weights after training."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator, CertifiedAccuracy

pytestmark = pytest.mark.smoke


def _expected(model, x, y, eps):
    bounds = BoundEvaluator(model, "sound")(x)
    correct = np.argmax(np.asarray(model(x)), axis=1) == y
    return float(np.mean(correct & (bounds >= eps)))


@pytest.mark.slow_on_jax
def test_metric_in_evaluate_matches_the_evaluator_before_and_after_training(digits):
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("lenet5", digits.input_shape, 10, digits.mean, digits.std)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, batch_size=64, epochs=2, verbose=0)
    x, y = digits.x_test[:200], digits.y_test[:200]
    eps = float(np.median(BoundEvaluator(model, "sound")(x)))
    expected = _expected(model, x, y, eps)
    assert 0.1 < expected < 0.6
    metric = CertifiedAccuracy(model, eps)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[metric])
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert logs[metric.name] == pytest.approx(expected, abs=1e-6)
    history = model.fit(digits.x_train, digits.y_train, batch_size=64, epochs=1, verbose=0, validation_data=(x, y))
    assert history.history[f"val_{metric.name}"][-1] == pytest.approx(_expected(model, x, y, eps), abs=1e-6)


@pytest.mark.parametrize("method", ["ibp", "crown-ibp"])
def test_local_methods_on_an_adversarial_model_match_the_bounds(digits, method):
    """On kerobust's AdversarialModel (which hands the metric its inputs) the metric is the share of points whose
    margin lower bound is positive; on a plain Keras model it says why it cannot run."""
    from kerobust.bounds.linear.crown import CrownBounds
    from kerobust.bounds.linear.interval import IntervalBounds
    from kerobust.models import build_model
    from kerobust.training import AdversarialModel, build_training_method

    if keras.backend.backend() == "jax":
        pytest.skip("local methods refuse JAX's evaluate (test_local_methods_refuse_jax)")
    keras.utils.set_random_seed(0)
    classifier = build_model("certcnn", digits.input_shape, 10, digits.mean, digits.std)
    trainer = AdversarialModel(classifier, build_training_method("ibp", eps=0.05, ramp_steps=100))
    metric = CertifiedAccuracy(classifier, 0.05, method=method, norm="linf")
    trainer.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=[metric])
    trainer.fit(digits.x_train, digits.y_train, batch_size=32, epochs=3, verbose=0)
    x, y = digits.x_test[:128], digits.y_test[:128]
    logs = trainer.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    bounds = IntervalBounds(classifier) if method == "ibp" else CrownBounds(classifier, intermediate="ibp")
    expected = np.mean(bounds(x, y, 0.05) > 0)
    assert expected > 0.1 and logs[metric.name] == pytest.approx(expected, abs=1e-6)
    classifier.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=[CertifiedAccuracy(classifier, 0.05, method=method, norm="linf")])
    with pytest.raises(Exception, match="compile it on kerobust's AdversarialModel"):
        classifier.evaluate(x, y, verbose=0)


@pytest.mark.slow_on_jax
def test_local_methods_refuse_jax(digits):
    from kerobust.errors import KerobustError
    from kerobust.models import build_model

    if keras.backend.backend() != "jax":
        pytest.skip("a JAX-only refusal")
    classifier = build_model("certcnn", digits.input_shape, 10, digits.mean, digits.std)
    with pytest.raises(KerobustError, match="use TensorFlow, or kerobust certify"):
        CertifiedAccuracy(classifier, 0.05, method="ibp", norm="linf")
