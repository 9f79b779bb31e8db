import numpy as np
import pytest

from kerobust.data import load_dataset
from kerobust.errors import KerobustError


def _write(path, **arrays):
    np.savez(path, **arrays)
    return f"npz:{path}"


def test_uint8_arrays_are_scaled_and_split(tmp_path):
    rng = np.random.default_rng(0)
    name = _write(
        tmp_path / "d.npz", x_train=rng.integers(0, 256, (100, 6, 6), dtype=np.uint8), y_train=np.arange(100) % 5,
        x_test=rng.integers(0, 256, (20, 6, 6), dtype=np.uint8), y_test=np.arange(20) % 5,
    )
    data = load_dataset(name)
    assert data.input_shape == (6, 6, 1) and data.num_classes == 5
    assert len(data.x_val) == 10 and data.x_train.max() <= 1.0


@pytest.mark.parametrize(
    "arrays,message",
    [
        (dict(x_train=np.full((4, 2, 2), np.nan), y_train=np.zeros(4), x_test=np.zeros((2, 2, 2)),
              y_test=np.zeros(2)), "NaN"),
        (dict(x_train=np.zeros((4, 2, 2)), y_train=np.zeros(4)), "lacks key"),
        (dict(x_train=np.full((4, 2, 2), 3.0), y_train=np.zeros(4), x_test=np.zeros((2, 2, 2)),
              y_test=np.zeros(2)), r"\[0, 1\]"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path, arrays, message):
    with pytest.raises(KerobustError, match=message):
        load_dataset(_write(tmp_path / "bad.npz", **arrays))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(KerobustError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(KerobustError, match="cannot be read"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
