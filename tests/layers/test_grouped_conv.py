import keras
import numpy as np
import pytest

from kerobust.layers import GroupedConv2D
from tests.keras_citizenship import check_citizenship, classifier_around


@pytest.mark.slow_on_jax
@pytest.mark.smoke
@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "same"), (2, "valid")])
def test_equals_the_split_form_with_ordinary_convolutions(strides, padding):
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 12)).astype("float32")
    layer = GroupedConv2D(6, 3, strides=strides, padding=padding, groups=3)
    out = np.asarray(layer(x))
    kernel, bias = (np.asarray(w) for w in layer.weights)
    pieces = []
    for g in range(3):  # group g sees input channels 4g..4g+3 and makes output channels 2g, 2g+1
        conv = keras.layers.Conv2D(2, 3, strides=strides, padding=padding)
        conv.build((None, 7, 7, 4))
        conv.set_weights([kernel[..., 2 * g : 2 * g + 2], bias[2 * g : 2 * g + 2]])
        pieces.append(np.asarray(conv(x[..., 4 * g : 4 * g + 4])))
    np.testing.assert_allclose(out, np.concatenate(pieces, axis=-1), atol=1e-5)
    assert isinstance(layer, keras.layers.Conv2D)


def test_keras_citizenship(tmp_path):
    x = np.random.default_rng(1).uniform(size=(16, 6, 6, 4)).astype("float32")
    check_citizenship(classifier_around(GroupedConv2D(4, 3, groups=2, padding="same"), (6, 6, 4)), x, tmp_path)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the per-group form is TensorFlow's")
def test_per_group_form_matches_keras_grouped_conv_with_gradients(monkeypatch):
    # Without oneDNN (e.g. AMD EPYC) TensorFlow cannot run grouped kernels: each group becomes its own convolution.
    import tensorflow as tf

    from kerobust.backend import tensorflow_backend

    monkeypatch.setattr(tensorflow_backend, "native_groups", lambda: False)
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 7, 7, 12)).astype("float32"))
    ours = GroupedConv2D(6, 3, strides=2, padding="same", groups=3)
    reference = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=3)  # Keras's own (XLA) grouped path
    ours.build(x.shape)
    reference.build(x.shape)
    reference.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    results = []
    for layer in (ours, reference):
        with tf.GradientTape() as tape:
            out = layer(x)
            loss = tf.reduce_sum(out * out)
        results.append([out, *tape.gradient(loss, layer.trainable_weights)])
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the probe is TensorFlow's")
def test_the_grouped_kernel_probe_answers_the_same_inside_a_traced_graph():
    # The first grouped convolution is often built while a tf.function traces; the probe must still run, not be
    # traced into that graph (where its failure would only show when the graph runs).
    import tensorflow as tf

    from kerobust.backend import tensorflow_backend

    answers = []

    @tf.function
    def traced():
        answers.append(tensorflow_backend._grouped_kernels_run())
        return tf.constant(0)

    traced()
    assert answers == [tensorflow_backend._grouped_kernels_run()]
