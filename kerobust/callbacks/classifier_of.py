"""The classifier inside a fitted model: what the callbacks validate, clip and save."""


def classifier_of(model):
    """`model.classifier` for a `kerobust.training.AdversarialModel` (or any wrapper with one), else `model` itself."""
    return getattr(model, "classifier", None) or model
