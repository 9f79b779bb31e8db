"""A run's configuration and final metrics in TensorBoard's HParams plugin, so runs and tuner trials compare in its
table and parallel-coordinates views (point TensorBoard at the folder that holds the runs).

The session is the run's `logs/` folder, the dashboard's one run: its hyperparameters are written there, and its
metrics are the test split's accuracies (`test/...`, written after the evaluation) and the last epoch's validation
accuracies (`accuracy/...`).

The plugin orders its columns by name and shows the first five, so each hyperparameter's name starts with its rank
(`00 train_method`) and its display name is the field's own: the table leads with `LEADING` (the method, the radius,
the architecture, its width and normalisation, the epochs), then the rest in the configuration's order.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

LEADING = ("train_method", "eps", "arch", "k", "width", "norm", "epochs", "data", "threat_norm")


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


def ranked_names(names: Sequence[str]) -> dict[str, str]:
    """`{field: plugin name}`: `LEADING` first, then the others in their given order, each prefixed by its rank."""
    order = [name for name in LEADING if name in names] + [name for name in names if name not in LEADING]
    return {name: f"{rank:02d} {name}" for rank, name in enumerate(order)}


def write_hparams(logs_dir: str, config: Mapping[str, Any], metric_tags: Sequence[str],
                  trial_id: str | None = None) -> None:
    """Writes the HParams experiment and session summaries of one run to `logs_dir`; `metric_tags` are the scalar
    tags shown as metric columns (in that order)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    values = hparam_values(config)
    names = ranked_names(list(values))
    hparams = {name: hp.HParam(names[name], display_name=name) for name in values}
    metrics = [hp.Metric(tag, display_name=tag) for tag in metric_tags]
    writer = tf.summary.create_file_writer(logs_dir)
    with writer.as_default():
        hp.hparams_config(hparams=sorted(hparams.values(), key=lambda h: h.name), metrics=metrics)
        hp.hparams({hparams[name]: value for name, value in values.items()},
                   trial_id=trial_id or os.path.basename(os.path.dirname(os.path.abspath(logs_dir))))
    writer.close()
