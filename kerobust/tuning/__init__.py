"""KerasTuner searches whose trials are kerobust fit runs (issue 14; the `kerobust tune` command is still to come)."""

from kerobust.tuning.fit_tuner import OBJECTIVES, TUNERS, fit_search, trial_metrics

__all__ = ["OBJECTIVES", "TUNERS", "fit_search", "trial_metrics"]
