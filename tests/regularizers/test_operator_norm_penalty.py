"""The plain eq. (5) penalty for ordinary Keras models: its value against the dense matrix, its place in
`model.losses`, its gradient against norm decay with gamma = 0, and saving."""

import keras
import numpy as np
import pytest

from kerobust.regularizers import OperatorNormPenalty, add_norm_penalty
from tests.norms.dense_conv import numpy_dense_matrix

pytestmark = pytest.mark.smoke


def _net():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((7, 7, 2))
    h = keras.layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", name="conv_a")(inputs)
    h = keras.layers.Conv2D(4, 2, strides=2, padding="valid", name="conv_b")(keras.layers.ReLU()(h))
    outputs = keras.layers.Dense(3, name="head")(keras.layers.Flatten()(h))
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("norm", ["l1", "linf"])
def test_penalties_sum_to_beta_over_n_times_the_dense_matrix_norms(norm):
    model = _net()
    assert add_norm_penalty(model, beta=0.6, norm=norm) == 3
    axis = 0 if norm == "l1" else 1
    conv_a, conv_b, head = (model.get_layer(n) for n in ("conv_a", "conv_b", "head"))
    matrices = [
        numpy_dense_matrix(np.asarray(conv_a.kernel), (7, 7), (2, 1), "same"),
        numpy_dense_matrix(np.asarray(conv_b.kernel), (4, 7), (2, 2), "valid"),
        np.asarray(head.kernel).T,  # x -> x W has matrix W^T
    ]
    expected = 0.6 / 3 * sum(np.abs(m).sum(axis=axis).max() for m in matrices)
    assert float(sum(np.asarray(loss) for loss in model.losses)) == pytest.approx(expected, rel=1e-5)


def test_frozen_layers_are_neither_penalised_nor_counted():
    """As in `NormDecay`: with conv_a frozen, N = 2 and conv_a has no penalty."""
    model = _net()
    model.get_layer("conv_a").trainable = False
    assert add_norm_penalty(model, beta=0.6, norm="l1") == 2
    assert model.get_layer("conv_a").kernel_regularizer is None
    assert model.get_layer("head").kernel_regularizer.strength == pytest.approx(0.3)


def test_penalty_round_trips_through_config_and_a_keras_file(tmp_path):
    penalty = OperatorNormPenalty(0.1, "l1", (5, 6), (2, 1), "same", (1, 1), 1)
    assert OperatorNormPenalty.from_config(penalty.get_config()).get_config() == penalty.get_config()
    model = _net()
    add_norm_penalty(model, beta=0.3, norm="linf")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose([float(v) for v in reloaded.losses], [float(v) for v in model.losses], rtol=1e-6)


def test_fit_with_the_penalty_lowers_the_norm():
    x = np.random.default_rng(0).random((64, 7, 7, 2)).astype("float32")
    y = np.arange(64) % 3
    norms = {}
    for beta in (0.0, 0.5):
        model = _net()
        add_norm_penalty(model, beta=beta, norm="linf")
        model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=5, batch_size=16, verbose=0)
        norms[beta] = np.abs(np.asarray(model.get_layer("head").kernel)).sum(axis=0).max()
    assert norms[0.5] < norms[0.0]


def test_bad_values_are_refused():
    from kerobust.errors import KerobustError

    with pytest.raises(KerobustError, match="unknown norm 'l2'"):
        OperatorNormPenalty(0.1, "l2")
    with pytest.raises(KerobustError, match="strength must be >= 0"):
        OperatorNormPenalty(-1.0)
