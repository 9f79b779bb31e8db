"""A KerasTuner search whose trials are kerobust fit runs (`kerobust.experiment.run`), with a robust objective.

Each trial is a full run folder `DIRECTORY/trials/<trial_id>` (config, checkpoints, metrics.json, TensorBoard logs,
model, SavedModel). The objective is reported explicitly from `run_trial` as a dict of metrics, so KerasTuner never
looks for it in Keras logs ("objective value missing in metrics"). KerasTuner keeps its oracle state in
`DIRECTORY/oracle`, so the same search resumes: completed trials are read back, and a trial killed midway resumes from
its run folder's last checkpoint.

Status (issue 14, first step): grid, random and Bayesian search over any `FitConfig` field, objectives
`val_robust_accuracy` (PGD on the validation split, the last epoch's) and `robust_accuracy_per_second`, `trials.json`
and `trials.md`. Not yet: the `kerobust tune` command, Hyperband, certified and AutoAttack objectives, the Pareto plot,
`best/` export and distributed trials.
"""

import dataclasses
import os

from kerobust.errors import KerobustError

OBJECTIVES = ("val_robust_accuracy", "robust_accuracy_per_second")
TUNERS = ("grid", "random", "bayesian")


def _oracle(tuner, objective, space, max_trials, seed):
    import keras_tuner

    hyperparameters = keras_tuner.HyperParameters()
    for name, values in space.items():
        hyperparameters.Choice(name, list(values), ordered=all(isinstance(v, (int, float)) for v in values))
    goal = keras_tuner.Objective(objective, direction="max")
    oracles = {"grid": keras_tuner.oracles.GridSearchOracle, "random": keras_tuner.oracles.RandomSearchOracle,
               "bayesian": keras_tuner.oracles.BayesianOptimizationOracle}
    return oracles[tuner](objective=goal, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
                          tune_new_entries=False, allow_new_entries=False)


def trial_metrics(result):
    """The objective values and the costs of one finished `FitResult`."""
    history = result.metrics["history"].get("val_robust_accuracy") or [float("nan")]
    robust = [a.top1 for a in result.evaluation.attacks if a.name == "PGD"]
    seconds = max(float(result.metrics["train_seconds"]), 1e-9)
    return {
        "val_robust_accuracy": float(history[-1]),
        "robust_accuracy_per_second": float(history[-1]) / seconds,
        "clean_accuracy": float(result.evaluation.clean_top1),
        "robust_accuracy": float(robust[-1]) if robust else float("nan"),
        "fgsm_accuracy": float(next((a.top1 for a in result.evaluation.attacks if a.name == "FGSM"), float("nan"))),
        "parameters": float(result.classifier.count_params()),
        "train_seconds": seconds,
    }


def fit_search(base, space, directory, tuner="grid", objective="val_robust_accuracy", max_trials=None, seed=0,
               log=print):
    """Runs (or resumes) a search over `space` around the `FitConfig` `base`.

    Args:
        base: the `FitConfig` every trial starts from (its `run_dir` is ignored).
        space: `{field: [values]}` over `FitConfig` fields, e.g. `{"k": [1, 2, 4], "norm": ["bn", "convnorm"]}`.
        directory: the search folder (oracle state, `trials/`, `trials.json`, `trials.md`).
        tuner: "grid", "random" or "bayesian".
        objective: one of `OBJECTIVES` (maximised).
        max_trials: trial budget (grid: default every combination).
        seed: the oracle's seed.
        log: progress lines.

    Returns:
        The trial rows written to `trials.json`, best first.
    """
    import keras_tuner

    from kerobust.experiment import run

    if tuner not in TUNERS:
        raise KerobustError(f"unknown tuner {tuner!r}; valid: {', '.join(TUNERS)}.")
    if objective not in OBJECTIVES:
        raise KerobustError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}.")
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(space) - fields)
    if unknown or not space or any(not values for values in space.values()):
        raise KerobustError(f"the search space needs FitConfig fields with at least one value each; got {space!r}.")
    if objective == "val_robust_accuracy" and not base.val_points:
        raise KerobustError("the val_robust_accuracy objective needs robust validation (val_points > 0).")

    class _Tuner(keras_tuner.engine.base_tuner.BaseTuner):
        def run_trial(self, trial):
            config = dataclasses.replace(base, **trial.hyperparameters.values,
                                         run_dir=os.path.join(directory, "trials", trial.trial_id))
            log(f"trial {trial.trial_id}: {trial.hyperparameters.values}")
            try:
                return trial_metrics(run(config, explicit=set(space), log=lambda line: None))
            except KerobustError as error:  # a bad setting would fail every trial: stop the search, in one line
                raise keras_tuner.errors.FatalValueError(str(error)) from None

        def save_model(self, trial_id, model, step=0):
            """The run folder already holds the trial's model."""

        def load_model(self, trial):
            import keras

            return keras.saving.load_model(os.path.join(directory, "trials", trial.trial_id, "model.keras"))

    search = _Tuner(_oracle(tuner, objective, space, max_trials, seed), directory=os.path.dirname(
        os.path.abspath(directory)) or ".", project_name=os.path.basename(os.path.abspath(directory)))
    try:
        search.search()
    except keras_tuner.errors.FatalError as error:
        raise KerobustError(str(error).splitlines()[0]) from None
    return write_trials(search.oracle, directory, objective)


def write_trials(oracle, directory, objective):
    """`trials.json` (every trial: id, hyperparameters, objective, status, metrics) and `trials.md`, best first."""
    from kerobust.atomic_files import write_json, write_text
    from kerobust.evaluation.report import markdown

    rows = []
    for trial in oracle.trials.values():
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        rows.append({"trial_id": trial.trial_id, "hyperparameters": trial.hyperparameters.values,
                     "objective": metrics.get(objective), "status": trial.status, **metrics})
    rows.sort(key=lambda r: (r["objective"] is None, -(r["objective"] or 0.0)))
    write_json(os.path.join(directory, "trials.json"), rows)
    names = sorted({k for row in rows for k in row["hyperparameters"]})
    table = [[row["trial_id"], *(str(row["hyperparameters"].get(n, "")) for n in names), row["status"],
              *(f"{100 * row[k]:.2f}" if row.get(k) is not None else "-"
                for k in ("clean_accuracy", "fgsm_accuracy", "robust_accuracy", "val_robust_accuracy")),
              f"{row.get('parameters') or 0:,.0f}", f"{row.get('train_seconds') or 0:.1f}"] for row in rows]
    write_text(os.path.join(directory, "trials.md"), markdown(
        ["trial", *names, "status", "clean %", "FGSM %", "PGD %", "val PGD %", "parameters", "train s"], table) + "\n")
    return rows
