"""Training callbacks: robust validation metrics, NaN guard, resumable atomic checkpoints, early stopping."""

from kerobust.callbacks.early_stopping import RobustEarlyStopping
from kerobust.callbacks.nan_guard import NaNGuard, TrainingDiverged
from kerobust.callbacks.resumable_checkpoint import ResumableCheckpoint
from kerobust.callbacks.robust_validation import RobustValidation

__all__ = ["NaNGuard", "ResumableCheckpoint", "RobustEarlyStopping", "RobustValidation", "TrainingDiverged"]
