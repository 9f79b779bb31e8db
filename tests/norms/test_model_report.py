"""Per-layer norms of a whole model against each layer's dense matrix."""

import keras
import numpy as np
import pytest

from kerobust.layers.grouped_conv import GroupedConv2D
from kerobust.norms.model_report import layer_norms, products

pytestmark = pytest.mark.smoke


def _dense_of(layer, input_shape):
    """The matrix of `layer(x) - layer(0)`, from basis inputs."""
    size = int(np.prod(input_shape))
    basis = np.eye(size, dtype="float32").reshape(-1, *input_shape)
    outputs = np.asarray(layer(basis)) - np.asarray(layer(np.zeros_like(basis[:1])))
    return outputs.reshape(size, -1).T.astype("float64")


@pytest.mark.slow_on_jax
def test_rows_match_the_layers_dense_matrices():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 4))
    conv = keras.layers.Conv2D(6, 3, strides=2, padding="same")
    grouped = GroupedConv2D(4, 3, padding="valid", groups=2)
    norm = keras.layers.BatchNormalization()
    dense = keras.layers.Dense(5)
    depthwise = keras.layers.DepthwiseConv2D(1)
    x = depthwise(dense(keras.layers.Flatten()(grouped(norm(conv(inputs))))[:, None, None, :]))
    model = keras.Model(inputs, x)
    norm.set_weights([np.linspace(0.5, 2, 6), np.zeros(6), np.zeros(6), np.linspace(1, 4, 6)])
    rows = {r.name: r for r in layer_norms(model, power_iterations=300)}
    norm_scale = np.max(np.linspace(0.5, 2, 6) / np.sqrt(np.linspace(1, 4, 6) + 1e-3))
    expected_l1 = [norm_scale]
    for layer, shape in ((conv, (6, 6, 4)), (grouped, (3, 3, 6)), (dense, (4,))):
        matrix = _dense_of(layer, shape)
        row = rows[layer.name]
        expected_l1.append(np.abs(matrix).sum(0).max())
        assert row.l1 == pytest.approx(expected_l1[-1], rel=1e-5)
        assert row.linf == pytest.approx(np.abs(matrix).sum(1).max(), rel=1e-5)
        assert row.l2 is not None and row.l2 == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-3)
    assert rows[norm.name].l1 == pytest.approx(norm_scale)
    assert rows[depthwise.name].note == "unsupported"
    assert products(list(rows.values()))["l1"] == pytest.approx(np.prod(expected_l1), rel=1e-5)


def test_l2_defaults_to_the_eq3_bound():
    model = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2D(3, 3)])
    row = layer_norms(model)[0]
    assert (row.l2_method == "eq3 bound"
            and row.l2 >= np.linalg.svd(_dense_of(model.layers[0], (5, 5, 2)), compute_uv=False)[0])


def test_power_iteration_measures_a_noisy_conv_by_its_mean_kernel():
    from kerobust.layers import NoisyConv2D

    keras.utils.set_random_seed(1)
    noisy = NoisyConv2D(3, 3, padding="same", seed=4)
    model = keras.Sequential([keras.Input((5, 5, 2)), noisy])
    plain = keras.layers.Conv2D(3, 3, padding="same")
    keras.Sequential([keras.Input((5, 5, 2)), plain])
    plain.set_weights([np.asarray(noisy.kernel), np.asarray(noisy.bias)])
    row = layer_norms(model, power_iterations=300)[0]
    assert noisy.noise_enabled  # switched back on
    assert row.l2 == pytest.approx(np.linalg.svd(_dense_of(plain, (5, 5, 2)), compute_uv=False)[0], rel=1e-3)


def test_grouped_conv_gets_the_eq3_bound():
    model = keras.Sequential([keras.Input((5, 5, 4)), GroupedConv2D(4, 3, groups=2)])
    row = layer_norms(model)[0]
    assert (row.l2_method == "eq3 bound"
            and row.l2 >= np.linalg.svd(_dense_of(model.layers[0], (5, 5, 4)), compute_uv=False)[0])
