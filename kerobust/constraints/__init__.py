"""Constraints on layer spectra: singular value clipping of convolutions (Sedghi, Gupta & Long 2019)."""

from kerobust.constraints.singular_value_clip import (
    OPERATORS, SingularValueClip, add_singular_value_constraints, clip_grid, clip_model, clip_singular_values,
)

__all__ = ["OPERATORS", "SingularValueClip", "clip_grid", "add_singular_value_constraints", "clip_model",
           "clip_singular_values"]
