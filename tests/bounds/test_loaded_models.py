"""Bounds of models loaded from `.keras` files, whose layers' first graph is not the loaded model's."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator

pytestmark = pytest.mark.smoke


def test_a_loaded_sequential_classifier_gets_the_closed_form_linear_bound(linear_digits, digits, tmp_path):
    """For logits x W + b the smallest l2 perturbation that changes the decision is min_c (z_y - z_c) / ||w_y - w_c||
    over the other classes c (y the predicted class): the sound bound is exact there."""
    model, weights, bias = linear_digits
    path = tmp_path / "linear.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = digits.x_test[:32]
    bounds = np.asarray(BoundEvaluator(loaded, "sound")(x), "float64")
    logits = x.reshape(len(x), -1).astype("float64") @ weights + bias
    predicted = logits.argmax(1)
    expected = []
    for z, y in zip(logits, predicted):
        others = [c for c in range(10) if c != y]
        expected.append(min((z[y] - z[c]) / np.linalg.norm(weights[:, y] - weights[:, c]) for c in others))
    np.testing.assert_allclose(bounds, expected, rtol=1e-3)


def test_a_copied_sequential_follows_the_weights_of_the_original(tmp_path):
    """The evaluator of a loaded Sequential works on a copy; `current_lipschitz` (what `CertifiedAccuracy` reads
    during training) must still see the original's current weights: a hidden linear layer scaled by 3 scales L by 3."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(8),
                              keras.layers.Dense(3)])
    path = tmp_path / "mlp.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    evaluator = BoundEvaluator(loaded, "sound")
    before = evaluator.current_lipschitz()
    kernel, bias = loaded.layers[1].get_weights()
    loaded.layers[1].set_weights([3 * kernel, bias])
    assert evaluator.current_lipschitz() == pytest.approx(3 * before, rel=1e-5)
    assert before == pytest.approx(np.linalg.norm(kernel, 2), rel=1e-4)  # one linear layer below the head


def test_the_bound_command_reads_a_loaded_sequential_classifier(linear_digits, tmp_path, capsys):
    from kerobust.cli.main import main

    model, _, _ = linear_digits
    model.save(tmp_path / "linear.keras")
    assert main(["bound", "--model", str(tmp_path / "linear.keras"), "--data", "digits", "--points", "20"]) == 0
    printed = capsys.readouterr().out
    assert "sound bound" in printed and "certified accuracy" in printed
