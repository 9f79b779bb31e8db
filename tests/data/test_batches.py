import numpy as np
import pytest

from kerobust.data.batches import TrainingBatches, crop_flip

pytestmark = pytest.mark.smoke


def test_every_point_appears_once_per_epoch():
    x = np.arange(10, dtype="float32").reshape(10, 1, 1, 1)
    batches = TrainingBatches(x, np.arange(10), batch_size=4)
    assert len(batches) == 3
    seen = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(seen) == list(range(10))


def test_crop_flip_keeps_shape_and_content_up_to_a_shift():
    image = np.zeros((1, 8, 8, 1), dtype="float32")
    image[0, 3, 3] = 1.0
    out = crop_flip(np.repeat(image, 50, axis=0), np.random.default_rng(0))
    assert out.shape == (50, 8, 8, 1)
    assert set(np.unique(out.sum(axis=(1, 2, 3)))) <= {0.0, 1.0}
    assert (out.sum(axis=(1, 2, 3)) == 1).mean() > 0.4  # the dot survives most shifts
