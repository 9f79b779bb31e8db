"""The classifier inside a fitted model: what the callbacks validate, clip and save."""

from __future__ import annotations

import keras


def classifier_of(model: keras.Model) -> keras.Model:
    """`model.classifier` for a `kerobust.training.AdversarialModel` (or any wrapper with one), else `model` itself."""
    return getattr(model, "classifier", None) or model
