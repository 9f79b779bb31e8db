"""Run with KERAS_BACKEND=jax: loads every `NAME.keras` in a folder, applies it to `NAME.x.npy` (inference mode)
and writes `NAME.jax.npy`. Used by tests/test_backend_agreement.py."""

import pathlib
import sys

import keras
import numpy as np

import kerobust.layers  # noqa: F401  (registers kerobust's layers for loading)


def main(folder):
    assert keras.backend.backend() == "jax", keras.backend.backend()
    for path in sorted(pathlib.Path(folder).glob("*.keras")):
        model = keras.saving.load_model(path)
        x = np.load(path.with_suffix(".x.npy"))
        np.save(path.with_suffix(".jax.npy"), np.asarray(model(x, training=False)))


if __name__ == "__main__":
    main(sys.argv[1])
