"""The export check's tolerance scales with the logits (float32 rounding grows with them), with a floor of 1e-4."""

import numpy as np
import pytest

from kerobust.errors import KerobustError
from kerobust.export.saved_model import RELATIVE_TOLERANCE, check_close, tolerance


def test_tolerance_is_relative_to_the_largest_logit_with_a_floor():
    assert tolerance(np.array([[0.1, -0.5]])) == pytest.approx(RELATIVE_TOLERANCE)
    assert tolerance(np.array([[20.0, -40.0]])) == pytest.approx(40 * RELATIVE_TOLERANCE)


def test_resnet18_sized_rounding_passes_and_a_real_mismatch_fails():
    reference = np.random.default_rng(0).normal(scale=3, size=(64, 10)).astype("float32")
    assert check_close(reference, reference + 1.4e-5, "copy") == pytest.approx(1.4e-5, rel=0.1)  # float32 steps
    wrong = reference.copy()
    wrong[3, 4] += 0.05  # one wrong logit
    with pytest.raises(KerobustError, match="copy differs from the trained model by 5.00e-02"):
        check_close(reference, wrong, "copy")
