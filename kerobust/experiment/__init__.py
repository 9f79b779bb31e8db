"""The library-level fit run: `run(FitConfig(...)) -> FitResult`, called by `kerobust fit`, the apps and the tuner."""

from kerobust.experiment.config import FitConfig, resolve_fit_config
from kerobust.experiment.fit_run import FitResult, run

__all__ = ["FitConfig", "FitResult", "resolve_fit_config", "run"]
