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
