"""KerasTuner searches whose trials are kerobust fit runs, behind `kerobust tune`."""

from kerobust.tuning.fit_tuner import OBJECTIVES, TUNERS, fit_search, trial_metrics

__all__ = ["OBJECTIVES", "TUNERS", "fit_search", "trial_metrics"]
