"""Model export: verified `.keras` files, SavedModels with serving and certifying signatures, and ONNX files."""

from kerobust.export.onnx import export_onnx
from kerobust.export.saved_model import export_saved_model, save_keras

__all__ = ["export_onnx", "export_saved_model", "save_keras"]
