"""Sound bounds never exceed a perturbation an attack found (docs/bounds.md section 7, property 1), on trained
digits models with batch norm, LRN and residual blocks, over the whole test split; thesis mode is checked and reported,
not required."""

import keras
import numpy as np
import pytest

from kerobust.bounds import BoundEvaluator
from kerobust.bounds.lipschitz.attack_check import fgs_line_search, pgd_l2_search, violations


@pytest.fixture(scope="module", params=["lenet5_lrn3", pytest.param("resnet20", marks=pytest.mark.slow), "basicnet"])
def trained(request, digits):
    from kerobust.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(request.param, digits.input_shape, 10, digits.mean, digits.std)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(digits.x_train, digits.y_train, batch_size=64, epochs=3, verbose=0)
    return model


def test_sound_mode_has_no_violation_on_the_whole_test_split(trained, digits):
    x = digits.x_test
    found = np.minimum(fgs_line_search(trained, x), pgd_l2_search(trained, x, radii=np.geomspace(0.05, 8.0, 10)))
    assert np.isfinite(found).mean() > 0.95  # the attacks flip nearly every point
    bounds = BoundEvaluator(trained, "sound")(x)
    assert (bounds > 0).all() and len(violations(bounds, found)) == 0
    assert bounds.mean() < found[np.isfinite(found)].mean()


def test_bounds_do_not_depend_on_batch_composition_or_compilation(trained, digits):
    x = digits.x_test[:40]
    evaluator = BoundEvaluator(trained, "sound")
    together = evaluator(x)
    np.testing.assert_allclose(evaluator(x[::-1])[::-1], together, rtol=1e-5)
    np.testing.assert_allclose(evaluator(x, batch_size=7), together, rtol=1e-5)
    np.testing.assert_allclose(BoundEvaluator(trained, "sound", jit=False)(x), together, rtol=1e-5)
