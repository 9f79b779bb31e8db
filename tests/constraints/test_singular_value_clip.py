"""Singular value clipping (Sedghi et al. 2019) against the circular operator's singular values (the FFT values,
themselves checked against a dense SVD in tests/norms), as a function, a Keras constraint and a periodic callback."""

import keras
import numpy as np
import pytest

from kerobust.callbacks import SingularValueClipping
from kerobust.constraints import SingularValueClip, add_singular_value_constraints, clip_model, clip_singular_values
from kerobust.errors import KerobustError
from kerobust.norms import circular_singular_values

pytestmark = pytest.mark.smoke

# Documented tolerance of `exact=True`: float32 rounding of the rescaled kernel.
TOLERANCE = 1e-5


def _kernel(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def test_without_a_crop_every_singular_value_is_clipped_and_the_rest_kept():
    """A kernel as large as the input: no crop, so clipping is exactly D -> min(D, c) per frequency."""
    kernel = _kernel((5, 4, 3, 2))
    before = circular_singular_values(kernel, (5, 4))
    after = circular_singular_values(np.asarray(clip_singular_values(kernel, (5, 4), 2.0, exact=False)), (5, 4))
    assert before.max() > 4.0
    np.testing.assert_allclose(np.sort(after.ravel()), np.sort(np.minimum(before, 2.0).ravel()), atol=1e-4)


@pytest.mark.parametrize("shape,size,limit", [
    ((3, 3, 4, 4), (8, 8), 1.0), ((3, 3, 8, 5), (7, 9), 0.5), ((1, 1, 6, 3), (4, 4), 1.5),
    ((5, 5, 3, 4), (32, 32), 2.0), ((3, 3, 2, 2), (2, 2), 1.0),  # the last: kernel larger than the input
])
def test_after_clipping_the_top_singular_value_is_at_most_c(shape, size, limit):
    kernel = _kernel(shape, seed=sum(shape))
    clipped = np.asarray(clip_singular_values(kernel, size, limit))
    grid = tuple(max(n, k) for n, k in zip(size, shape[:2]))
    assert circular_singular_values(kernel, grid).max() > limit
    assert circular_singular_values(clipped, grid).max() <= limit * (1 + TOLERANCE)
    assert clipped.shape == kernel.shape


def test_sedghis_crop_alone_overshoots_and_repeating_it_converges():
    """Why `exact=True` exists: one clip-and-crop is an approximate projection."""
    kernel = _kernel((3, 3, 8, 8), scale=0.5)
    once = np.asarray(clip_singular_values(kernel, (8, 8), 1.0, exact=False))
    assert circular_singular_values(once, (8, 8)).max() > 1.2
    repeated = once
    for _ in range(5):
        repeated = np.asarray(clip_singular_values(repeated, (8, 8), 1.0, exact=False))
    assert circular_singular_values(repeated, (8, 8)).max() < circular_singular_values(once, (8, 8)).max() - 0.2


@pytest.mark.parametrize("size,padding,strides", [((3, 3), "same", 1), ((5, 6), "same", 1), ((5, 6), "same", 2),
                                                  ((5, 6), "valid", 1)])
def test_the_layer_operator_bounds_the_zero_padded_layer_itself(size, padding, strides):
    """Against the layer's dense matrix (built entry by entry): "layer" keeps every layer at most c; "circular" can
    leave a small `same` layer above it."""
    from kerobust.constraints import clip_grid
    from tests.norms.dense_conv import numpy_dense_matrix

    inputs = keras.Input((*size, 2))
    conv = keras.layers.Conv2D(2, 3, strides=strides, padding=padding)
    keras.Model(inputs, conv(inputs))
    kernel = _kernel((3, 3, 2, 2), seed=3)
    dense_top = lambda k: np.linalg.svd(numpy_dense_matrix(k, size, (strides, strides), padding), compute_uv=False)[0]  # noqa: E731
    layer = np.asarray(clip_singular_values(kernel, clip_grid(conv, "layer"), 1.0))
    assert dense_top(layer) <= 1.0 + TOLERANCE
    if size == (3, 3):
        assert clip_grid(conv, "layer") == (5, 5)
        assert dense_top(np.asarray(clip_singular_values(kernel, clip_grid(conv, "circular"), 1.0))) > 1.3


def test_a_kernel_already_inside_the_limit_is_unchanged():
    kernel = _kernel((3, 3, 2, 3), scale=0.05)
    assert circular_singular_values(kernel, (6, 6)).max() < 1.0
    np.testing.assert_allclose(np.asarray(clip_singular_values(kernel, (6, 6), 1.0)), kernel, atol=1e-6)


def _convnet():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))


def _tops(model):
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    return [circular_singular_values(np.asarray(c.kernel), tuple(c.input.shape[1:3])).max() for c in convs]


def _data():
    rng = np.random.default_rng(0)
    return rng.random((96, 8, 8, 1)).astype("float32"), np.arange(96) % 3


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's XLA has no complex SVD")
def test_clipping_compiles_with_xla_on_tensorflow():
    import tensorflow as tf

    kernel = _kernel((3, 3, 4, 5))
    compiled = tf.function(lambda k: clip_singular_values(k, (6, 6), 1.0), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(kernel)), np.asarray(clip_singular_values(kernel, (6, 6), 1.0)),
                               atol=1e-5)


@pytest.mark.slow_on_jax
def test_constraint_holds_after_every_step_and_survives_saving(tmp_path):
    model = _convnet()
    assert add_singular_value_constraints(model, 0.5) == 2
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*_data(), epochs=2, batch_size=32, verbose=0)
    assert max(_tops(model)) <= 0.5 * (1 + TOLERANCE)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.layers[1].kernel_constraint.get_config() == {"limit": 0.5, "input_size": (8, 8), "exact": True}
    clip = SingularValueClip(1.5, (4, 5), exact=False)
    assert SingularValueClip.from_config(clip.get_config()).get_config() == clip.get_config()


@pytest.mark.slow_on_jax
def test_callback_clips_every_n_batches_and_at_each_epoch_end():
    from kerobust.training import AdversarialModel, build_training_method

    model = _convnet()
    trainer = AdversarialModel(model, build_training_method("fgsm", 0.1))
    trainer.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clipping = SingularValueClipping(0.8, every=2)
    trainer.fit(*_data(), epochs=2, batch_size=32, verbose=0, callbacks=[clipping])  # 3 batches per epoch
    assert clipping.clips == 4  # batch 2 and the epoch's end, twice
    assert max(_tops(model)) <= 0.8 * (1 + TOLERANCE)


@pytest.mark.slow_on_jax
def test_clip_model_refuses_grouped_convolutions_and_bad_limits():
    inputs = keras.Input((6, 6, 4))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, groups=2, name="grouped")(inputs))
    with pytest.raises(KerobustError, match="'grouped' has groups=2"):
        clip_model(model, 1.0)
    with pytest.raises(KerobustError, match="limit must be > 0"):
        clip_model(_convnet(), 0.0)
