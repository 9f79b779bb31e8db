import numpy as np
import pytest

pytestmark = pytest.mark.smoke


def test_digits_splits_are_fixed_disjoint_stratified_and_in_unit_range(digits):
    from kerobust.data import load_dataset

    assert digits.input_shape == (8, 8, 1)
    assert (len(digits.x_train), len(digits.x_val), len(digits.x_test)) == (1293, 144, 360)
    for x in (digits.x_train, digits.x_val, digits.x_test):
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    # 10 % of the non-test data is validation, with every class represented in proportion.
    assert abs(len(digits.x_val) / (len(digits.x_train) + len(digits.x_val)) - 0.1) < 0.002
    assert np.bincount(digits.y_val, minlength=10).min() >= 13
    rows = {x.tobytes() for x in digits.x_test}
    assert sum(x.tobytes() in rows for x in digits.x_train) <= 20  # only genuine duplicate images in sklearn's set
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, digits.x_test)
    assert digits.threat_model.eps == 0.2 and digits.threat_model.eval_steps == (20,)


def test_unknown_dataset_suggests_the_nearest_name():
    from kerobust.data import load_dataset
    from kerobust.errors import KerobustError

    with pytest.raises(KerobustError, match="Did you mean 'cifar10'"):
        load_dataset("cifar-10")
