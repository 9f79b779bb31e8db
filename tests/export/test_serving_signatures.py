"""The exported SavedModel serves with plain TensorFlow and kerobust blocked from import: `serving_default` gives
logits (within 1e-5 of the Keras model), probabilities and classes, and `certify` / `certify_at_radius` give the
certified flag and margin lower bounds equal to the library's bounds for the predicted class."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kerobust.bounds.linear.interval import IntervalBounds
from kerobust.evaluation.certification import lipschitz_margins
from kerobust.export import export_saved_model

SERVE_WITHOUT_KEROBUST = r"""
import importlib.abc, json, sys
import numpy as np

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "kerobust" or name.startswith("kerobust."):
            raise ImportError("kerobust is blocked")
        return None

sys.meta_path.insert(0, Block())
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
x = tf.constant(np.load(sys.argv[2]))
served = model.signatures["serving_default"](images=x)
certified = model.signatures["certify"](images=x)
wider = model.signatures["certify_at_radius"](images=x, radius=tf.constant(float(sys.argv[3])))
print(json.dumps({"signatures": sorted(model.signatures),
                  **{f"serve_{k}": v.numpy().tolist() for k, v in served.items()},
                  **{f"certify_{k}": v.numpy().tolist() for k, v in certified.items()},
                  **{f"wider_{k}": v.numpy().tolist() for k, v in wider.items()}}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory, natural_digits_net, digits):
    folder = tmp_path_factory.mktemp("serving")
    x = digits.x_test[:24].astype("float32")
    np.save(folder / "x.npy", x)
    error, methods = export_saved_model(natural_digits_net, str(folder / "sm"), x, "linf", 1e-4)
    assert error <= 1e-5 and methods == ["ibp", "crown-ibp", "lipschitz"]
    run = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_KEROBUST, str(folder / "sm"), str(folder / "x.npy"),
                          "0.05"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), x


def test_serving_default_gives_logits_probabilities_and_classes(served, natural_digits_net):
    outputs, x = served
    logits = np.asarray(natural_digits_net(x))
    np.testing.assert_allclose(outputs["serve_logits"], logits, atol=1e-5)
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(outputs["serve_probabilities"], probabilities / probabilities.sum(1, keepdims=True),
                               atol=1e-5)
    assert outputs["serve_class"] == logits.argmax(1).tolist()
    assert {"serving_default", "certify", "certify_at_radius"} <= set(outputs["signatures"])


def test_certify_is_the_best_sound_bound_for_the_predicted_class(served, natural_digits_net):
    outputs, x = served
    logits = np.asarray(natural_digits_net(x), "float64")
    predicted = logits.argmax(1)
    clean_gap = np.sort(logits, axis=1)[:, -1] - np.sort(logits, axis=1)[:, -2]  # the margin at the image itself
    for prefix, eps in (("certify", 1e-4), ("wider", 0.05)):
        ibp = IntervalBounds(natural_digits_net, "linf")(x, predicted, eps)
        lipschitz = lipschitz_margins(natural_digits_net, x, predicted, eps * 8.0)  # 8x8 digits: sqrt(d) = 8
        margins = np.asarray(outputs[f"{prefix}_margin_lower_bound"])
        best = np.maximum(ibp, lipschitz)
        assert np.all(margins >= best - 1e-5 * (1 + np.abs(best)))  # CROWN-IBP may only raise it (float32)
        assert np.all(margins <= clean_gap + 1e-4)  # a lower bound over the ball never beats the centre's margin
        assert outputs[f"{prefix}_certified"] == (margins > 0).tolist()
        assert outputs[f"{prefix}_class"] == predicted.tolist()
    assert sum(outputs["certify_certified"]) > sum(outputs["wider_certified"])  # a larger ball certifies fewer
    radii = np.asarray(outputs["certify_certified_radius"])
    assert np.all((radii > 1e-4) <= np.asarray(outputs["certify_certified"]))  # a Lipschitz radius certifies


def test_a_negative_radius_counts_as_zero_and_images_outside_the_box_get_only_the_lipschitz_bound(natural_digits_net,
                                                                                                  digits):
    from kerobust.export.certifier import ServingCertifier

    certifier = ServingCertifier(natural_digits_net, "linf")
    x = digits.x_test[:16].astype("float32")
    at_zero = np.asarray(certifier(x, 0.0)["margin_lower_bound"])
    np.testing.assert_allclose(np.asarray(certifier(x, -0.3)["margin_lower_bound"]), at_zero, rtol=1e-6)
    bright = 255.0 * x  # pixels in 0-255: the interval boxes would be inverted
    outputs = certifier(bright, 0.01)
    predicted = np.asarray(outputs["class"])
    lipschitz = lipschitz_margins(natural_digits_net, bright, predicted, 0.01 * 8.0)
    np.testing.assert_allclose(np.asarray(outputs["margin_lower_bound"]), lipschitz, rtol=1e-4, atol=1e-3)


def test_a_softmax_model_serves_its_probabilities(natural_digits_net, digits, tmp_path):
    import keras
    import tensorflow as tf

    probabilities = keras.Model(natural_digits_net.inputs, keras.layers.Softmax()(natural_digits_net.outputs[0]))
    export_saved_model(probabilities, str(tmp_path / "sm"), digits.x_test[:4])
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"](
        images=tf.constant(digits.x_test[:4]))
    expected = np.asarray(probabilities(digits.x_test[:4]))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(tf.nn.softmax(served["logits"]).numpy(), expected, atol=1e-5)
