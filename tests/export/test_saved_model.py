import numpy as np
import pytest
import tensorflow as tf

from kerobust.export import export_saved_model, save_keras
from kerobust.models import build_model


def test_saved_model_and_keras_file_reproduce_the_model(digits, tmp_path):
    model = build_model("wrn", digits.input_shape, 10, digits.mean, digits.std, k=1, norm="bn")
    probe = digits.x_test[:16]
    assert save_keras(model, str(tmp_path / "m.keras"), probe) <= 1e-5
    assert export_saved_model(model, str(tmp_path / "sm"), probe)[0] <= 1e-5
    reloaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference while serving
    served = reloaded.serve(tf.constant(digits.x_test[16:48]))
    np.testing.assert_allclose(np.asarray(served), np.asarray(model(digits.x_test[16:48])), atol=1e-5)


def test_a_failed_export_leaves_the_previous_one_untouched(digits, tmp_path, monkeypatch):
    model = build_model("basicnet", digits.input_shape, 10, digits.mean, digits.std, width=4)
    export_saved_model(model, str(tmp_path / "sm"), digits.x_test[:4])
    before = sorted(p.name for p in (tmp_path / "sm").iterdir())
    from kerobust.export import saved_model as module

    monkeypatch.setattr(module, "saved_model_outputs", lambda path, x: np.full((len(x), 10), 1e3))
    with pytest.raises(ValueError, match="differs from the trained model"):
        export_saved_model(model, str(tmp_path / "sm"), digits.x_test[:4])
    assert sorted(p.name for p in (tmp_path / "sm").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["sm"]  # no temporary left behind
