"""Run with KERAS_BACKEND=jax: for every `NAME.keras` in a folder, the bounds of each mode in `NAME.modes` on
`NAME.x.npy`, written to `NAME.MODE.jax.npy`. Used by tests/bounds/test_backend_agreement.py."""

import pathlib
import sys

import keras
import numpy as np

import kerobust.layers  # noqa: F401  (registers kerobust's layers for loading)
from kerobust.bounds import BoundEvaluator


def main(folder):
    assert keras.backend.backend() == "jax", keras.backend.backend()
    for path in sorted(pathlib.Path(folder).glob("*.keras")):
        model = keras.saving.load_model(path)
        x = np.load(path.with_suffix(".x.npy"))
        for mode in path.with_suffix(".modes").read_text().split():
            np.save(path.with_suffix(f".{mode}.jax.npy"), BoundEvaluator(model, mode, dtype="float64")(x))


if __name__ == "__main__":
    main(sys.argv[1])
