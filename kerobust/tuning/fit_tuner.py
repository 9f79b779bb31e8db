"""A KerasTuner search whose trials are kerobust fit runs (`kerobust.experiment.run`), with a robust objective.

Each trial is one folder, `DIRECTORY/trial_<trial_id>`: KerasTuner's `trial.json` beside the trial's kerobust run folder
(config, checkpoints, metrics.json, TensorBoard logs, model). By default a trial does only what the objective needs: it
trains, is evaluated on the test split and saves `model.keras`; the gradient-masking probe, AutoAttack on the test split
and the SavedModel export are done once, for the best trial (`every_trial="full"` does them for every trial). The
objective is reported explicitly from `run_trial` as a dict of metrics, so KerasTuner never looks for it in Keras logs
("objective value missing in metrics"). KerasTuner keeps its oracle state in `DIRECTORY/oracle.json`, so the same search
resumes: completed trials are read back, and a trial killed midway resumes from its run folder's last checkpoint.

Objectives (maximised, all on the validation split, never the test split): `val_robust_accuracy` (PGD, the last
epoch's), `val_autoattack_accuracy` (the standard AutoAttack, with Square-1000, on the robust-validation points, at
the evaluation radius), `certified_accuracy` (at l2 `cert_eps`, per point the tightest of IBP, CROWN-IBP and the
Lipschitz bound) and `robust_accuracy_per_second` (the cost-aware score). The search writes `trials.json`, `trials.md`,
`pareto.png` (PGD accuracy against parameters and training seconds) and `best/` (the best trial's `model.keras` and
`saved_model/`).

Distributed: KerasTuner's own chief / worker mode. With `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT` and
`KERASTUNER_TUNER_ID` set ("chief" on one process, any other id on each worker), the chief serves the oracle over gRPC
and writes the summary once every trial is done; workers run trials in the shared `directory`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kerobust.errors import KerobustError

if TYPE_CHECKING:
    import keras
    import keras_tuner

    from kerobust.experiment.config import FitConfig
    from kerobust.experiment.fit_run import FitResult
    from kerobust.types import Array, ArrayLike

OBJECTIVES = ("val_robust_accuracy", "val_autoattack_accuracy", "certified_accuracy", "robust_accuracy_per_second")
AUTOATTACK_SQUARE_QUERIES = 1000  # Square inside the objective's suite (the full 5000 is for the final evaluation)
TUNERS = ("grid", "random", "bayesian", "hyperband")
HYPERBAND_FACTOR = 3


def _oracle(tuner, objective, space, max_trials, seed, max_epochs):
    import keras_tuner

    hyperparameters = keras_tuner.HyperParameters()
    for name, values in space.items():
        hyperparameters.Choice(name, list(values), ordered=all(isinstance(v, (int, float)) for v in values))
    goal = keras_tuner.Objective(objective, direction="max")
    if tuner == "hyperband":  # Li et al. 2018: successive halving of budgets from max_epochs / factor^k to max_epochs
        return keras_tuner.oracles.HyperbandOracle(objective=goal, max_epochs=max_epochs, factor=HYPERBAND_FACTOR,
                                                   seed=seed, hyperparameters=hyperparameters)
    oracles = {"grid": keras_tuner.oracles.GridSearchOracle, "random": keras_tuner.oracles.RandomSearchOracle,
               "bayesian": keras_tuner.oracles.BayesianOptimizationOracle}
    return oracles[tuner](objective=goal, max_trials=max_trials, seed=seed, hyperparameters=hyperparameters,
                          tune_new_entries=False, allow_new_entries=False)


def trial_folder(directory: str, trial_id: str) -> str:
    """A trial's folder: `DIRECTORY/trial_<id>` (KerasTuner's, which also holds the run), or `DIRECTORY/trials/<id>`
    in a search begun by a kerobust before 2026-12-07, which is resumed in place."""
    legacy = os.path.join(directory, "trials", trial_id)
    return legacy if os.path.isdir(legacy) else os.path.join(directory, f"trial_{trial_id}")


def _hyperband_start(values, directory, run_dir):
    """Hyperband's budget for a trial: `epochs` from `tuner/epochs`; a trial that continues an earlier one
    (`tuner/trial_id`) starts from a copy of that trial's checkpoints, so it trains only the epochs it adds."""
    import shutil

    epochs = values.pop("tuner/epochs", None)
    previous = values.pop("tuner/trial_id", None)
    for key in [k for k in values if k.startswith("tuner/")]:
        values.pop(key)
    source = os.path.join(trial_folder(directory, str(previous)), "checkpoints") if previous else None
    target = os.path.join(run_dir, "checkpoints")
    if source and os.path.isdir(source) and not os.path.exists(target):
        shutil.copytree(source, target)
    return {} if epochs is None else {"epochs": int(epochs)}


def certified_accuracy(classifier: keras.Model, x: ArrayLike, y: ArrayLike, eps: float, norm: str = "l2",
                       methods: Sequence[str] = ("ibp", "crown-ibp", "lipschitz")) -> float:
    """The share of (x, y) certified at radius `eps` by the best of `methods` for each point; methods a model has no
    rule for are skipped, and a model none of them bounds (random layers) scores 0. Full CROWN is left out: a
    backward pass per neuron is too slow for a trial."""
    import numpy as np

    from kerobust.evaluation.certifiers import applicable_certifiers, best_certified_accuracy

    certifiers, _ = applicable_certifiers(classifier, methods, norm)
    if not certifiers:
        return 0.0
    return best_certified_accuracy(certifiers, np.asarray(x, "float32"), np.asarray(y, "int64"), eps)[0]


def autoattack_accuracy(result: FitResult, x: Array, y: Array) -> float:
    """The share of (x, y) robust to the whole autoattack suite at the run's evaluation radius and threat norm."""
    import numpy as np

    from kerobust.attacks.suite import autoattack
    from kerobust.evaluation import evaluate_robustness

    config = result.config
    n = config.val_points or len(x)
    classes = int(np.max(y)) + 1
    suite = autoattack(config.eval_eps,  # type: ignore[arg-type]  # a finished run's config has its eval eps
                       norm=config.threat_norm, square_queries=AUTOATTACK_SQUARE_QUERIES,
                       targets=min(9, classes - 1))
    evaluation = evaluate_robustness(result.classifier, x[:n], y[:n], [suite], seed=config.seed, progress=False)
    return float(evaluation.attacks[-1].top1)


def worker_id() -> str | None:
    """This process's tuner id when it is a worker of a distributed search (KerasTuner's variables), else None."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return None if "chief" in tuner_id else tuner_id


def trial_metrics(result: FitResult, validation: tuple[Array, Array] | None = None, cert_eps: float | None = None,
                  objective: str | None = None) -> dict[str, float]:
    """The objective values and the costs of one finished `FitResult`; with `validation` (x, y) and `cert_eps`, also
    the certified accuracy there, and for the `val_autoattack_accuracy` objective the autoattack accuracy."""
    # (the ignores: a finished chief's result has its metrics, evaluation and classifier; only a multi-worker task
    # other than the chief gets None)
    history = result.metrics["history"].get("val_robust_accuracy") or [float("nan")]  # type: ignore[index]
    robust = [a.top1 for a in result.evaluation.attacks if a.name == "PGD"]  # type: ignore[union-attr]
    seconds = max(float(result.metrics["train_seconds"]), 1e-9)  # type: ignore[index]
    return {
        "val_robust_accuracy": float(history[-1]),
        "robust_accuracy_per_second": float(history[-1]) / seconds,
        "clean_accuracy": float(result.evaluation.clean_top1),  # type: ignore[union-attr]
        "robust_accuracy": float(robust[-1]) if robust else float("nan"),
        "fgsm_accuracy": float(next((a.top1 for a in result.evaluation.attacks  # type: ignore[union-attr]
                                     if a.name == "FGSM"), float("nan"))),
        "parameters": float(result.classifier.count_params()),  # type: ignore[union-attr]
        "train_seconds": seconds,
        "certified_accuracy": (certified_accuracy(result.classifier, *validation, cert_eps)
                               if validation is not None and cert_eps is not None else float("nan")),
        "val_autoattack_accuracy": (autoattack_accuracy(result, *validation)
                                    if validation is not None and objective == "val_autoattack_accuracy"
                                    else float("nan")),
    }


EVERY_TRIAL = ("objective", "full")


def fit_search(base: FitConfig, space: Mapping[str, Sequence[Any]], directory: str, tuner: str = "grid",
               objective: str = "val_robust_accuracy", max_trials: int | None = None, seed: int = 0,
               cert_eps: float = 0.05, log: Callable[[str], None] = print,
               every_trial: str = "objective") -> list[dict[str, Any]]:
    """Runs (or resumes) a search over `space` around the `FitConfig` `base`.

    Args:
        base: the `FitConfig` every trial starts from (its `run_dir` is ignored).
        space: `{field: [values]}` over `FitConfig` fields, e.g. `{"k": [1, 2, 4], "norm": ["bn", "convnorm"]}`.
        directory: the search folder (oracle state, `trial_<id>/`, `trials.json`, `trials.md`, `pareto.png`, `best/`).
        tuner: "grid", "random", "bayesian" or "hyperband" (budgets up to `base.epochs`, factor 3; a continued
            trial resumes from the earlier trial's checkpoint; KerasTuner ends a Hyperband search early once its
            space has no unseen point, so a space smaller than a bracket stops after the first round).
        objective: one of `OBJECTIVES` (maximised).
        max_trials: trial budget (grid: default every combination).
        seed: the oracle's seed.
        cert_eps: the l2 radius of the `certified_accuracy` objective.
        log: progress lines.
        every_trial: "objective" (each trial trains and is evaluated; the probe and the SavedModel only for the best)
            or "full" (each trial does all that `kerobust fit` does).

    Returns:
        The trial rows written to `trials.json`, best first (on a distributed search's workers: none).
    """
    if tuner not in TUNERS:
        raise KerobustError(f"unknown tuner {tuner!r}; valid: {', '.join(TUNERS)}.")
    if every_trial not in EVERY_TRIAL:
        raise KerobustError(f"unknown --every-trial {every_trial!r}; valid: {', '.join(EVERY_TRIAL)}.")
    if objective not in OBJECTIVES:
        raise KerobustError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}.")
    fields = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(space) - fields)
    if unknown or not space or any(not values for values in space.values()):
        raise KerobustError(f"the search space needs FitConfig fields with at least one value each; got {space!r}.")
    if objective in ("val_robust_accuracy", "robust_accuracy_per_second") and not base.val_points:
        raise KerobustError(f"the {objective} objective needs robust validation (val_points > 0).")
    if not cert_eps > 0:
        raise KerobustError(f"cert eps must be > 0, got {cert_eps}.")
    from kerobust.experiment.config import validate
    from kerobust.tuning.search_files import check_oracle_address, check_search_files

    for key, values in space.items():  # every searched value must be valid on its own, before any trial runs
        for value in values:
            validate(dataclasses.replace(base, **{key: value}))
    check_search_files(directory)
    check_oracle_address()  # last: a worker may wait for its chief
    import keras_tuner  # the first framework import: every check above is instant

    from kerobust.data.registry import load_dataset
    from kerobust.experiment import run

    dataset = load_dataset(base.data, base.data_dir)
    validation = (dataset.x_val, dataset.y_val)

    trial_work = {} if every_trial == "full" else {"diagnostics_points": 0, "autoattack": False, "export": False}
    best: dict[str, Any] = {}

    class _Tuner(keras_tuner.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **_):
            values = dict(trial.hyperparameters.values)
            run_dir = trial_folder(directory, trial.trial_id)
            budget = _hyperband_start(values, directory, run_dir)
            config = dataclasses.replace(base, **values, **budget, **trial_work, run_dir=run_dir)
            log(f"trial {trial.trial_id}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                + (f", {budget['epochs']} epochs" if budget else ""))
            try:
                result = run(config, explicit=set(space), log=lambda line: None,
                             dataset=None if {"data", "data_dir"} & set(space) else dataset)
                metrics = trial_metrics(result, validation, cert_eps, objective)
            except KerobustError as error:  # a bad setting would fail every trial: stop the search, in one line
                raise keras_tuner.errors.FatalValueError(str(error)) from None
            value = metrics[objective]
            if value == value and value > best.get("value", float("-inf")):
                best.update(value=value, trial=trial.trial_id)
            log(f"trial {trial.trial_id}: {objective} {value:.4f} (best so far: trial {best.get('trial', '-')}, "
                f"{best.get('value', float('nan')):.4f})")
            return {name: value for name, value in metrics.items() if value == value}  # NaN: not measured

        def save_model(self, trial_id, model, step=0):
            """The run folder already holds the trial's model."""

        def load_model(self, trial):
            import keras

            return keras.saving.load_model(os.path.join(trial_folder(directory, trial.trial_id), "model.keras"))

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise KerobustError(f"search folder {directory!r} is not writable ({error.strerror}); pass another "
                            f"--run-dir.") from None
    search = _Tuner(_oracle(tuner, objective, space, max_trials, seed, base.epochs), directory=os.path.dirname(
        os.path.abspath(directory)) or ".", project_name=os.path.basename(os.path.abspath(directory)))
    try:
        search.search(verbose=0)  # kerobust prints one line per trial, numbered by trial id
    except keras_tuner.errors.FatalError as error:
        raise KerobustError(str(error).splitlines()[0]) from None
    if worker_id() is not None:
        log(f"worker {worker_id()}: the chief has no trials left")
        return []
    rows = write_trials(search.oracle, directory, objective)
    plot_pareto(rows, os.path.join(directory, "pareto.png"))
    completed = [row for row in rows if row["status"] == "COMPLETED"]
    if completed:
        best_dir = trial_folder(directory, completed[0]["trial_id"])
        finish_best_trial(best_dir, completed[0]["trial_id"], base, set(space),
                          dataset if not {"data", "data_dir"} & set(space) else None, log)
        export_best(best_dir, os.path.join(directory, "best"), completed[0]["trial_id"])
    return rows


def finish_best_trial(run_dir: str, trial_id: str, base: FitConfig, explicit: set[str], dataset: Any,
                      log: Callable[[str], None]) -> None:
    """Gives the best trial what its search left out (the gradient-masking probe and the SavedModel): its finished run
    is evaluated again with `base`'s settings for them (`kerobust fit --reevaluate`; its training is kept)."""
    from kerobust.experiment import run
    from kerobust.experiment.config import FIELDS, FitConfig
    from kerobust.experiment.run_folder import read_run_config
    from kerobust.output_paths import read_json_object

    metrics = read_json_object(os.path.join(run_dir, "metrics.json")) or {}
    if (metrics.get("export") or {}).get("status") == "ok" or not base.export:
        return
    stored = read_run_config(run_dir, "remove the trial's folder to run it again") or {}
    stored = {k: v for k, v in stored.items() if k in FIELDS}  # less fit_epochs, which follows from the others
    config = dataclasses.replace(FitConfig(**stored), diagnostics_points=base.diagnostics_points, export=True,
                                 autoattack=base.autoattack,
                                 export_onnx=base.export_onnx, run_dir=run_dir)
    log(f"best trial {trial_id}: evaluating it again with the gradient-masking probe"
        + (" and AutoAttack" if config.autoattack else "") + ", and exporting its SavedModel")
    result = run(config, explicit=explicit, log=lambda line: None, dataset=dataset, reevaluate=True)
    for warning in result.evaluation.warnings if result.evaluation is not None else []:
        log(f"> warning (trial {trial_id}, possible gradient masking): {warning['message']}")


def export_best(run_dir: str, best_dir: str, trial_id: str) -> None:
    """Copies the best trial's `model.keras` and `saved_model/` to `best_dir` (each replaced atomically), with its id
    in `best_dir/TRIAL`."""
    import shutil

    from kerobust.atomic_files import atomic_path

    for name in ("model.keras", "saved_model"):
        source = os.path.join(run_dir, name)
        if not os.path.exists(source):
            continue
        with atomic_path(os.path.join(best_dir, name)) as temporary:
            (shutil.copytree if os.path.isdir(source) else shutil.copy2)(source, temporary)
    with atomic_path(os.path.join(best_dir, "TRIAL")) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        handle.write(trial_id + "\n")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (cost, accuracy) that no other point beats: lower or equal cost and higher or equal
    accuracy, one of them strictly."""
    front = []
    for i, (cost, accuracy) in enumerate(points):
        if not any((c <= cost and a >= accuracy) and (c < cost or a > accuracy) for c, a in points):
            front.append(i)
    return front


def plot_pareto(rows: Sequence[Mapping[str, Any]], path: str) -> None:
    """PGD test accuracy against parameters and against training seconds, one point per completed trial, labelled
    with its id and searched values; the Pareto-optimal trials (no other trial both cheaper and more robust) ringed.
    Points are not joined: trials are separate runs, not a curve."""
    from matplotlib.ticker import FuncFormatter

    from kerobust.figures import png_figure

    done = [r for r in rows if r["status"] == "COMPLETED"]
    if not done:
        return
    with png_figure(path, 1, 2, figsize=(10, 4), sharey=True) as (figure, axes):
        for axis, cost, label in ((axes[0], "parameters", "parameters"),
                                  (axes[1], "train_seconds", "training time (s)")):
            points = [(r[cost], 100 * r["robust_accuracy"]) for r in done]
            axis.scatter([p[0] for p in points], [p[1] for p in points], color="C0", label="trial")
            for (x, y), row in zip(points, done):
                values = ", ".join(f"{k}={v}" for k, v in row["hyperparameters"].items() if not k.startswith("tuner/"))
                axis.annotate(f"{row['trial_id']}: {values}", (x, y), fontsize=7, xytext=(4, 4),
                              textcoords="offset points")
            front = [points[i] for i in pareto_front(points)]
            axis.scatter([p[0] for p in front], [p[1] for p in front], s=160, facecolors="none", edgecolors="C1",
                         linewidths=1.5, label="Pareto-optimal")
            costs = [p[0] for p in points]
            if min(costs) > 0 and max(costs) / min(costs) > 10:
                axis.set_xscale("log")
            elif cost == "parameters":
                axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value / 1e3:g}k"))
            axis.margins(x=0.2)
            axis.set_xlabel(label)
            axis.legend(fontsize=8, loc="best")
            axis.grid(alpha=0.3)
        axes[0].set_ylim(0, 100)
        axes[0].set_ylabel("PGD accuracy on the test split (%)")
        figure.suptitle("Search trials: robustness against cost", fontsize=10)


def write_trials(oracle: keras_tuner.Oracle, directory: str, objective: str) -> list[dict[str, Any]]:
    """`trials.json` (every trial: id, hyperparameters, objective, status, metrics) and `trials.md`, best first. A
    completed trial whose run folder is gone is listed as `RUN_FOLDER_MISSING`, never as done."""
    from kerobust.atomic_files import write_json, write_text
    from kerobust.evaluation.report import markdown

    rows = []
    for trial in oracle.trials.values():
        metrics = {name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics}
        status = trial.status
        if (status == "COMPLETED"
                and not os.path.isfile(os.path.join(trial_folder(directory, trial.trial_id), "metrics.json"))):
            status = "RUN_FOLDER_MISSING"  # removed since: its numbers cannot be checked or its model exported
        rows.append({"trial_id": trial.trial_id, "hyperparameters": trial.hyperparameters.values,
                     "objective": metrics.get(objective), "status": status, **metrics})
    rows.sort(key=lambda r: (r["objective"] is None, -(r["objective"] or 0.0)))
    write_json(os.path.join(directory, "trials.json"), rows)
    names = sorted({k for row in rows for k in row["hyperparameters"]})
    table = [[row["trial_id"], *(str(row["hyperparameters"].get(n, "")) for n in names), row["status"],
              *(f"{100 * row[k]:.2f}" if row.get(k) is not None else "-"
                for k in ("clean_accuracy", "fgsm_accuracy", "robust_accuracy", "val_robust_accuracy",
                          "certified_accuracy")),
              f"{row.get('parameters') or 0:,.0f}", f"{row.get('train_seconds') or 0:.1f}"] for row in rows]
    write_text(os.path.join(directory, "trials.md"), markdown(
        ["trial", *names, "status", "clean %", "FGSM %", "PGD %", "val PGD %", "val certified %", "parameters",
         "train s"], table) + "\n")
    return rows
