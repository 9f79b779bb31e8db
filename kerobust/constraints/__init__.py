"""Constraints on layer spectra: singular value clipping of convolutions (Sedghi, Gupta & Long 2019)."""

from kerobust.constraints.singular_value_clip import (
    SingularValueClip, add_singular_value_constraints, clip_model, clip_singular_values,
)

__all__ = ["SingularValueClip", "add_singular_value_constraints", "clip_model", "clip_singular_values"]
