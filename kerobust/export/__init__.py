"""Model export: verified `.keras` files and SavedModels with a `serve` signature."""

from kerobust.export.saved_model import export_saved_model, save_keras

__all__ = ["export_saved_model", "save_keras"]
