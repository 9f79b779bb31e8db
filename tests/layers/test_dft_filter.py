"""The DFT-matmul filter against NumPy's FFTs, on even and odd grids, with rows and columns cropped and strided."""

import keras
import numpy as np
import pytest

from kerobust.layers.dft_filter import dft_filter


@pytest.mark.smoke
@pytest.mark.parametrize("grid", [(6, 8), (7, 9), (5, 4)])
@pytest.mark.parametrize("rows,cols", [(None, None), (slice(1, None, 2), slice(0, -1))])
def test_matches_numpy_irfft2_of_rfft2_times_v(grid, rows, cols):
    rng = np.random.default_rng(sum(grid))
    z = rng.normal(size=(2, *grid, 3)).astype("float32")
    v = rng.uniform(0.1, 3.0, size=(3, grid[0], grid[1] // 2 + 1)).astype("float32")
    spectrum = np.fft.rfft2(z.astype("float64"), axes=(1, 2)) * np.transpose(v, (1, 2, 0))
    expected = np.fft.irfft2(spectrum, s=grid, axes=(1, 2))[:, rows or slice(None), cols or slice(None)]
    got = keras.ops.convert_to_numpy(dft_filter(z, v, rows, cols))
    np.testing.assert_allclose(got, expected, atol=2e-5)
