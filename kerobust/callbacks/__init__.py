"""Training callbacks: robust validation metrics, NaN guard, resumable atomic checkpoints, early stopping, periodic
singular value clipping, the robustness dashboard."""

from kerobust.callbacks.dashboard import RobustnessDashboard
from kerobust.callbacks.early_stopping import RobustEarlyStopping
from kerobust.callbacks.nan_guard import NaNGuard, TrainingDiverged
from kerobust.callbacks.resumable_checkpoint import ResumableCheckpoint
from kerobust.callbacks.robust_validation import RobustValidation
from kerobust.callbacks.singular_value_clipping import SingularValueClipping

__all__ = ["NaNGuard", "ResumableCheckpoint", "RobustEarlyStopping", "RobustValidation", "RobustnessDashboard",
           "SingularValueClipping",
           "TrainingDiverged"]
