"""A run's configuration and final metrics in TensorBoard's HParams plugin, so runs and tuner trials compare in its
table and parallel-coordinates views (point TensorBoard at the folder that holds the runs).

The session is the run's `logs/` folder: its hyperparameters are written there, and its metrics are the final test
metrics (`final/...`, written there too after the evaluation) and the last epoch's validation scalars Keras's
TensorBoard callback writes under `logs/validation`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

FINAL_METRICS = ("clean_accuracy", "robust_accuracy", "certified_accuracy")
VALIDATION_METRICS = ("epoch_clean_accuracy", "epoch_robust_accuracy")


def hparam_values(config: Mapping[str, Any]) -> dict[str, bool | int | float | str]:
    """`{name: value}` of a configuration mapping, each a bool, int, float or str as the plugin needs (lists joined,
    None left out)."""
    values: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        if value is None:
            continue  # left out: a column keeps one type across runs (the plugin shows a gap)
        if hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif not isinstance(value, (bool, int, float, str)):
            value = str(value)
        values[key] = value
    return values


def write_hparams(logs_dir: str, config: Mapping[str, Any], trial_id: str | None = None) -> None:
    """Writes the HParams experiment and session summaries of one run to `logs_dir`."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    values = hparam_values(config)
    metrics = [hp.Metric(f"final/{name}", display_name=name) for name in FINAL_METRICS]
    metrics += [hp.Metric(tag, group="validation", display_name=f"val_{tag[len('epoch_'):]}")
                for tag in VALIDATION_METRICS]
    writer = tf.summary.create_file_writer(logs_dir)
    with writer.as_default():
        hp.hparams_config(hparams=[hp.HParam(name) for name in values], metrics=metrics)
        hp.hparams(values, trial_id=trial_id or os.path.basename(os.path.dirname(os.path.abspath(logs_dir))))
    writer.close()


def write_final_metrics(logs_dir: str, metrics: Mapping[str, float | None], step: int) -> None:
    """Writes `{name: value}` as `final/<name>` scalars at `step` (the run's last epoch, 0-based) to `logs_dir`."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(logs_dir)
    with writer.as_default(step=step):
        for name, value in metrics.items():
            if value is not None:
                tf.summary.scalar(f"final/{name}", float(value))
    writer.close()
