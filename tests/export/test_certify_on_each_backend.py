"""The SavedModel's `certify` signature, exported on the backend in use (TensorFlow calls `certify_at_radius` at a
constant radius; JAX converts each endpoint on its own), equals `certify_at_radius` at the run's radius."""

import numpy as np
import pytest

from kerobust.export import export_saved_model


@pytest.mark.smoke
def test_certify_equals_certify_at_radius_at_the_export_radius(tmp_path):
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3)])
    x = np.random.default_rng(0).uniform(size=(5, 4, 4, 1)).astype("float32")
    _, methods = export_saved_model(model, str(tmp_path / "sm"), x, "linf", 0.01)
    assert methods == ["ibp", "crown-ibp", "lipschitz"]
    served = tf.saved_model.load(str(tmp_path / "sm"))
    at_eps = served.signatures["certify"](images=tf.constant(x))
    at_radius = served.signatures["certify_at_radius"](images=tf.constant(x), radius=tf.constant(0.01))
    wider = served.signatures["certify_at_radius"](images=tf.constant(x), radius=tf.constant(0.2))
    for key in ("class", "certified", "margin_lower_bound"):
        np.testing.assert_array_equal(at_eps[key].numpy(), at_radius[key].numpy())
    assert np.all(wider["margin_lower_bound"].numpy() < at_eps["margin_lower_bound"].numpy())
