"""One helper that checks a layer or model behaves as a Keras citizen: config round trip, `.keras` save and reload,
SavedModel export, and a short training run that lowers the loss (docs/design.md, "Keras citizenship")."""

import keras
import numpy as np


def wrap(layer, input_shape):
    """A functional model around a single layer (so it can be saved, exported and trained)."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


def outputs(model, x):
    return np.asarray(model(x, training=False))


def check_config_round_trip(layer):
    """Every constructor argument is in the config, and a layer rebuilt from the config has the same config."""
    import inspect

    config = layer.get_config()
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("kerobust"):
            arguments = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]
            missing = [a for a in arguments if a not in config]
            assert not missing, f"{type(layer).__name__}.get_config() lacks {missing}"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def check_keras_file(model, x, tmp_path, atol=0.0):
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(outputs(reloaded, x), outputs(model, x), atol=atol, rtol=0)
    return reloaded


def check_saved_model(model, x, tmp_path, atol=1e-5):
    import tensorflow as tf

    path = str(tmp_path / "saved_model")
    model.export(path, format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(path)  # keep a reference: the served function needs the loaded variables
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(np.asarray(served), outputs(model, x), atol=atol, rtol=1e-5)


def classifier_around(layer, input_shape, num_classes=3):
    """Input -> layer -> flatten -> dense logits: a trainable classifier that exercises one layer."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(layer(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))


def check_training_lowers_loss(model, x, y, steps=20, lr=1e-2):
    """Fits `model` (logits for integer labels `y`) on one batch for `steps` steps; the training loss must fall by
    10 % and every kerobust layer's trainable weights must move."""
    tracked = [w for layer in model.layers if type(layer).__module__.startswith("kerobust")
               for w in layer.trainable_weights]
    initial = [np.array(w) for w in tracked]
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = model.fit(x, y, batch_size=len(x), epochs=steps, verbose=0).history["loss"]
    assert np.isfinite(losses[-1]) and losses[-1] < 0.9 * losses[0], losses
    for weight, start in zip(tracked, initial):
        assert not np.allclose(np.array(weight), start), f"{weight.path} did not train"


def check_citizenship(model, x, tmp_path, y=None, deterministic=True):
    """All of the above for `model` on inputs `x` (labels `y` for the training check, default: random classes)."""
    for layer in model.layers:
        if type(layer).__module__.startswith("kerobust"):
            check_config_round_trip(layer)
    if deterministic:
        check_keras_file(model, x, tmp_path)
        check_saved_model(model, x, tmp_path)
    if y is None:
        y = np.random.default_rng(0).integers(0, model.output_shape[-1], len(x))
    check_training_lowers_loss(model, x, y)
