"""The fit job as a library call: config -> dataset -> model -> adversarial training -> evaluation -> bounds ->
`metrics.json` -> `.keras` file and SavedModel (docs/design.md, "Data flow of the main job").

`kerobust fit` parses flags and calls `run`; the apps and the tuner call it directly.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from kerobust.errors import KerobustError, memory_errors_as_user_errors, require
from kerobust.experiment.config import (
    REEVALUATION_OPTIONS, FitConfig, architecture_options, check_even_batch, check_radii, default_run_dir,
    fill_dataset_defaults, to_yaml, validate,
)
from kerobust.experiment.outcome import chance_failure, describe_stored, finished_metrics
from kerobust.experiment.run_folder import CONFIG_FILE, run_folder
from kerobust.output_paths import stamped
from kerobust.wording import plural

if TYPE_CHECKING:
    import keras

    from kerobust.attacks import Attack, AttackSuite
    from kerobust.data.dataset import Dataset
    from kerobust.evaluation.result import RobustnessResult
    from kerobust.types import Array, ArrayLike

DASHBOARD_POINTS = 256  # validation points the dashboard certifies


@dataclasses.dataclass
class FitResult:
    """What a fit run produced.

    Attributes:
        config: the resolved `FitConfig` (dataset defaults filled in).
        classifier: the trained Keras classifier ([0, 1] images to logits).
        evaluation: the `kerobust.evaluation.RobustnessResult` on the test split.
        bounds: the sound-mode bounds summary (or `{"unavailable": reason}`).
        metrics: the `metrics.json` payload.
        run_dir: the run folder; `metrics_path`, `model_path`, `saved_model_path` are inside it.
        train_seconds: wall time of training, over every session of a resumed run.
        best_epoch: the restored best epoch with `restore_best` / `patience`, else None.
        stored: True when the run folder held the finished run, whose stored results were shown and returned.
    """

    config: FitConfig
    classifier: keras.Model | None
    evaluation: RobustnessResult | None
    bounds: dict[str, Any] | None
    metrics: dict[str, Any] | None
    run_dir: str
    train_seconds: float
    best_epoch: int | None = None
    stored: bool = False

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.run_dir, "metrics.json")

    @property
    def model_path(self) -> str:
        return os.path.join(self.run_dir, "model.keras")

    @property
    def saved_model_path(self) -> str:
        return os.path.join(self.run_dir, "saved_model")

    @property
    def onnx_path(self) -> str:
        return os.path.join(self.run_dir, "model.onnx")


def resolve(config: FitConfig, explicit: Collection[str] | None = None) -> dict[str, Any]:
    """Validates `config`, fills the dataset's threat-model defaults and the run folder; returns the architecture
    options. `explicit`: the keys the user set (see `architecture_options`)."""
    from kerobust.data.registry import threat_model_for

    validate(config)
    fill_dataset_defaults(config, threat_model_for(config.data))
    validate(config)  # the filled-in radii too
    options = architecture_options(config, explicit)
    config.run_dir = config.run_dir or default_run_dir(config)
    return options


def run(config: FitConfig, explicit: Collection[str] | None = None, log: Callable[[str], None] = print,
        dataset: Dataset | None = None, reevaluate: bool = False) -> FitResult:
    """Trains, evaluates, bounds, saves and exports one model in `config.run_dir`, resuming a killed run.

    A run folder that holds the finished run is a result: its stored `metrics.json` is shown and returned, and
    nothing is changed, unless `reevaluate` (the evaluation, bounds and export are redone; the training figures,
    kept in the checkpoint, stay). A training that ends at chance accuracy is reported as failed
    (`metrics["status"] == "failed"`, with the likely cause in `metrics["failure"]`): its `model.keras` is kept for
    inspection, but it is not exported.

    Bad input raises `KerobustError` before any expensive work, and a failed start leaves no run folder behind. The
    evaluation is written to `metrics.json` before the model is saved and exported, so a failed save (a full disk)
    keeps it; the error is then raised after `metrics.json` records it.

    Args:
        config: a `FitConfig` (`None` fields take the dataset's defaults).
        explicit: the keys the user set (architecture options given to an architecture that lacks them are errors).
        log: where progress lines go (`print`; a no-op to stay quiet).
        dataset: `config.data` already loaded (a search loads it once for all its trials).
        reevaluate: evaluate and export a finished run again (`REEVALUATION_OPTIONS`, such as `autoattack` or
            `export`, may differ from the run's).

    Returns:
        A `FitResult`.
    """
    from kerobust.data.registry import load_dataset

    config = dataclasses.replace(config)
    arch_options = resolve(config, explicit)
    dataset = dataset or load_dataset(config.data, config.data_dir)
    check_radii(config, int(np.prod(dataset.input_shape)))
    require(config.batch_size <= len(dataset.x_train), f"batch size {config.batch_size} is larger than the "
            f"{len(dataset.x_train)} training images of {dataset.name}; "
            f"pass --batch-size {len(dataset.x_train)} or less.")
    config_yaml = to_yaml(config)
    from kerobust.distribution import make_distribution

    distribution = make_distribution(config.distribute, config.replicas)  # before TensorFlow's runtime starts
    check_even_batch(config.distribute, config.batch_size, distribution.replicas)
    # (the ignores: `resolve` has set `config.run_dir`)
    stored = None if reevaluate else finished_metrics(
        os.path.join(config.run_dir, "metrics.json"))  # type: ignore[arg-type]
    distribution.agree(int(stored is not None), "the epoch to resume from (1: the run has finished)")
    if not distribution.is_chief:
        if stored is not None:
            return FitResult(config, None, None, None, None, config.run_dir,  # type: ignore[arg-type]
                             stored.get("train_seconds", 0.0))
        return _run_as_worker(config, dataset, arch_options, log, distribution)
    # The options that act only after training never make the folder another run: an unfinished run resumes and
    # uses their new values; a finished one is shown with its stored results and says how they were computed.
    with run_folder(config.run_dir, config_yaml,  # type: ignore[arg-type]
                    defaults=dataclasses.asdict(FitConfig()), may_differ=REEVALUATION_OPTIONS):
        if stored is not None:
            return _stored_result(config, stored, log)
        return _run_in_folder(config, config_yaml, dataset, arch_options, log, distribution)


def _stored_result(config, metrics, log):
    """The `FitResult` of a finished run, from its `metrics.json` and `model.keras`; shown, nothing changed."""
    import keras

    import kerobust
    from kerobust.evaluation.result import RobustnessResult

    for line in describe_stored(metrics, config.run_dir):
        log(line)
    changed = evaluation_changes(config)
    if changed:
        log(f"  These results were computed with {changed[0]}; add --reevaluate to evaluate the run with "
            f"{changed[1]}.")
    kerobust.register_all()
    model_path = os.path.join(config.run_dir, "model.keras")
    classifier = keras.saving.load_model(model_path) if os.path.isfile(model_path) else None
    return FitResult(config, classifier, RobustnessResult.from_json(metrics), metrics.get("bounds"), metrics,
                     config.run_dir, metrics.get("train_seconds", 0.0), metrics.get("best_epoch"), stored=True)


def evaluation_changes(config: FitConfig) -> tuple[str, str] | None:
    """`(stored flags, current flags)` of the evaluation-only options (`REEVALUATION_OPTIONS`) whose values differ
    between the run folder's `config.yaml` and `config`, such as `("--autoattack false", "--autoattack true")`; None
    when they agree."""
    from kerobust.experiment.run_folder import read_run_config, shown

    stored = read_run_config(config.run_dir, "remove the run folder") or {}  # type: ignore[arg-type]
    keys = [k for k in REEVALUATION_OPTIONS if k in stored and stored[k] != getattr(config, k)]
    if not keys:
        return None
    flags = lambda values: ", ".join(f"--{k.replace('_', '-')} {shown(values[k])}" for k in keys)  # noqa: E731
    return flags(stored), flags(dataclasses.asdict(config))


def _run_as_worker(config, dataset, arch_options, log, distribution):
    """A multi-worker task other than the chief: trains in step with the chief, from the chief's resumable state
    (checkpoints and early-stopping state, read from the shared run folder), writing only into a scratch folder that
    it deletes; the chief evaluates, writes the run folder and exports. Returns a `FitResult` without evaluation."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kerobust-worker-") as scratch:
        for state in ("checkpoints", "best"):
            if os.path.isdir(os.path.join(config.run_dir, state)):
                shutil.copytree(os.path.join(config.run_dir, state), os.path.join(scratch, state))
        worker_config = dataclasses.replace(config, run_dir=scratch)
        classifier, trainer = _build(worker_config, dataset, arch_options, distribution)
        _, best_epoch, seconds, _ = _train(worker_config, dataset, trainer, scratch, log, distribution)
    log(f"kerobust fit ({distribution.task}): trained in step with the chief for {seconds:.1f} s; the chief writes "
        f"{config.run_dir}")
    return FitResult(config, classifier, None, None, None, config.run_dir, seconds, best_epoch)


def _build(config, dataset, arch_options, distribution=None):
    """The classifier and its compiled `AdversarialModel` trainer, with norm decay and clipping when asked, built in
    the `distribution`'s scope."""
    import keras

    from kerobust.distribution import Distribution

    distribution = distribution or Distribution("none", 1)
    keras.utils.set_random_seed(config.seed)
    with distribution.scope():
        return _build_in_scope(config, dataset, arch_options, distribution)


def _build_in_scope(config, dataset, arch_options, distribution):
    import keras

    from kerobust.backend import use_xla
    from kerobust.constraints.singular_value_clip import clip_plan
    from kerobust.data.batches import batches_per_epoch
    from kerobust.models import build_model
    from kerobust.regularizers import NormDecay
    from kerobust.training import AdversarialModel, AdversarialWeightPerturbation, build_training_method
    from kerobust.training.method_rules import FAST_IBP_LAMBDA
    from kerobust.training.registry import CERTIFIED
    from kerobust.training.optimizers import build_optimizer
    from kerobust.training.schedules import build_schedule

    with memory_errors_as_user_errors(f"the {config.arch} model", "choose a smaller --k, --width or --depth"):
        classifier = build_model(config.arch, dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std,
                                 **arch_options)
    if config.svc is not None:
        clip_plan(classifier, config.svc_operator)  # refuses unsupported convolutions before any other setup
    if config.ibp_init:  # a resumed run's checkpoint then restores its trained weights over these
        from kerobust.training.fast_ibp import ibp_initialize

        ibp_initialize(classifier, seed=config.seed)
    if config.export_onnx:
        from kerobust.export.onnx import onnx_refusal

        refusal = onnx_refusal(classifier)
        require(refusal is None, f"--export-onnx: {refusal}.")
    # Free training takes `replays` optimizer steps per batch: its schedule runs over fit_epochs * replays passes.
    replays = config.replays if config.train_method == "free" else 1
    steps_per_epoch = batches_per_epoch(len(dataset.x_train), config.batch_size, distribution.shards_by_compiler)
    method = build_training_method(
        config.train_method, eps=config.eps, steps=config.steps, step_size=config.step_size,
        replays=config.replays, norm=config.threat_norm, seed=config.seed, l2_eps=config.l2_eps,
        adversarial_share=config.adversarial_share, mix=config.mix,
        warmup_steps=(config.cert_warmup_epochs if config.train_method in CERTIFIED else config.eps_warmup_epochs)
        * steps_per_epoch * replays, free_box=config.free_box,
        ramp_steps=(config.cert_ramp_epochs or 0) * steps_per_epoch, kappa_end=config.kappa_end,
        trades_beta=config.trades_beta, alp_weight=config.alp_weight, mart_beta=config.mart_beta,
        sabr_lambda=config.sabr_lambda, mtl_alpha=config.mtl_alpha,
        warmup_regularizer=FAST_IBP_LAMBDA if config.ibp_init else 0.0,
    )
    schedule = build_schedule(
        config.lr_schedule, config.lr, config.fit_epochs * replays, steps_per_epoch,
        milestones=config.milestones, gamma=config.gamma, warmup_epochs=config.warmup_epochs,
    )
    norm_decay = None
    if config.norm_decay is not None:
        norm_decay = NormDecay(config.norm_decay, config.nd_beta, config.nd_gamma)
    # Free training's perturbation has one row per row of the batch a step sees (a shard under tf.distribute).
    weight_perturbation = AdversarialWeightPerturbation(config.awp) if config.awp else None
    trainer = AdversarialModel(classifier, method, batch_size=distribution.shard_batch(config.batch_size),
                               norm_decay=norm_decay, weight_perturbation=weight_perturbation)
    trainer.compile(
        optimizer=build_optimizer(config.optimizer, schedule, config.weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=use_xla(config.jit),
    )
    return classifier, trainer


def regulariser_descriptions(config: FitConfig) -> list[str]:
    """One line per regulariser the run applies (adversarial weight perturbation, norm decay, singular value
    clipping)."""
    lines = []
    if config.awp:
        from kerobust.training import AdversarialWeightPerturbation

        lines.append(AdversarialWeightPerturbation(config.awp).describe())
    if config.norm_decay is not None:
        from kerobust.regularizers import NormDecay

        lines.append(NormDecay(config.norm_decay, config.nd_beta, config.nd_gamma).describe())
    if config.svc is not None:
        lines.append(f"singular value clipping to {config.svc:g} every {config.svc_every} batches "
                     f"({config.svc_operator} operator)")
    return lines


def _callbacks(config, dataset, run_dir, checkpoint, early):
    """The fit's callbacks, in order: the NaN guard, clipping, robust validation (before every reader of its logs),
    early stopping, the dashboard (the run's TensorBoard summaries), the checkpoint (after every callback that changes
    the model's state, so that it holds what the next epoch starts from)."""
    from kerobust.attacks import FGSM, PGD
    from kerobust.callbacks import NaNGuard, RobustValidation, RobustnessDashboard, SingularValueClipping

    callbacks = [NaNGuard(hint=f"Lower --lr (now {config.lr:g}) or check the data.")]
    if config.svc is not None:  # clips on each epoch's last batch: validation and checkpoints see clipped weights
        callbacks.append(SingularValueClipping(config.svc, every=config.svc_every, operator=config.svc_operator))
    pgd = None
    if config.val_points:
        pgd = PGD(eps=config.eval_eps, norm=config.threat_norm, steps=config.eval_steps[0],
                  step_size=config.eval_step_size)
        attacks = [pgd, FGSM(eps=config.eval_eps, norm=config.threat_norm)]
        callbacks.append(RobustValidation(dataset.x_val, dataset.y_val, attacks, max_points=config.val_points))
    if early is not None:
        callbacks.append(early)  # after robust validation (it reads its value), before the checkpoint
    dashboard = RobustnessDashboard(
        os.path.join(run_dir, "logs"), dataset.x_val, dataset.y_val, pgd, config.eval_eps, config.threat_norm,
        every=config.dashboard_period, points=min(config.val_points, DASHBOARD_POINTS))
    checkpoint.track("dashboard", dashboard)
    return callbacks + [dashboard, checkpoint]


def evaluation_attacks(config: FitConfig, dataset: Dataset) -> list[Attack | AttackSuite]:
    """FGSM and PGD at the evaluation radius; MAT runs add the same attacks in l2; `--autoattack true` adds
    the standard AutoAttack (Croce & Hein 2020) at the evaluation radius."""
    from kerobust.attacks.suite import autoattack
    from kerobust.evaluation import standard_attacks

    threat_model = dataset.threat_model
    attacks: list[Attack | AttackSuite] = list(standard_attacks(
        threat_model, eps=config.eval_eps, steps=config.eval_steps, step_size=config.eval_step_size,
        norm=config.threat_norm))
    if config.eval_l2_eps:
        attacks += standard_attacks(threat_model, eps=config.eval_l2_eps, steps=config.eval_steps, norm="l2")
    if config.autoattack:
        attacks.append(autoattack(config.eval_eps,  # type: ignore[arg-type]  # a resolved config has its eval eps
                                  norm=config.threat_norm, targets=min(9, dataset.num_classes - 1)))
    return attacks


def _train(config, dataset, trainer, run_dir, log, distribution):
    """Fits `trainer` from its last checkpoint; returns `(checkpoint, best_epoch, seconds, dashboard)`."""
    from kerobust.callbacks import ResumableCheckpoint, RobustEarlyStopping, RobustnessDashboard
    from kerobust.callbacks.hparams import write_hparams
    from kerobust.atomic_files import write_text
    from kerobust.data import TrainingBatches

    checkpoint = ResumableCheckpoint(os.path.join(run_dir, "checkpoints"))
    early = None
    if config.restore_best or config.patience:
        early = RobustEarlyStopping(os.path.join(run_dir, "best"), patience=config.patience, restore_best=False)
    # Before the restore, whose variable creation is itself a collective under multi-worker.
    distribution.agree(checkpoint.completed_epochs(), "the epoch to resume from")
    distribution.agree(int(early is not None and early.stopped), "whether early stopping has stopped")
    callbacks = _callbacks(config, dataset, run_dir, checkpoint, early)
    with distribution.scope():  # the restore builds the optimizer's variables
        initial_epoch = checkpoint.restore(trainer)
    write_text(os.path.join(run_dir, CONFIG_FILE), to_yaml(config))
    classifier = trainer.classifier
    log(f"kerobust fit: {classifier.name} ({classifier.count_params():,} parameters) on {dataset.name}, "
        f"{trainer.method.describe()}, {plural(config.fit_epochs, 'epoch')}"
        + "".join(f", {r}" for r in regulariser_descriptions(config))
        + (f", resuming after epoch {initial_epoch}" if initial_epoch else ""))
    # data-parallel: every batch splits evenly over the devices (the last partial batch of an epoch is dropped).
    batches = TrainingBatches(dataset.x_train, dataset.y_train, config.batch_size, dataset.augmentation,
                              seed=config.seed, full_batches=distribution.shards_by_compiler, epoch=initial_epoch)
    dashboard = next(c for c in callbacks if isinstance(c, RobustnessDashboard))
    if initial_epoch < config.fit_epochs and not (early is not None and early.stopped):
        write_hparams(os.path.join(run_dir, "logs"), hparams_config(config), hparams_metrics(config, dataset))
        with memory_errors_as_user_errors(f"training with batch size {config.batch_size}",
                                          "lower --batch-size or choose a smaller model"):
            trainer.fit(
                batches, validation_data=distribution.even(dataset.x_val, dataset.y_val),
                validation_batch_size=config.batch_size, epochs=config.fit_epochs,
                initial_epoch=initial_epoch, callbacks=callbacks,
                shuffle=False,  # the batches shuffle themselves from seeded streams (Keras's shuffle is unseeded)
                verbose=(1 if sys.stdout.isatty() else 2) if log is print else 0,
            )
    seconds = checkpoint.seconds  # every session's epochs, not only this one's
    for note in dashboard.notes:
        log(note)
    best_epoch = None
    if early is not None:  # --patience implies --restore-best
        best_epoch = early.restore(classifier)
        if best_epoch is not None:
            log(f"Restored the weights of epoch {best_epoch} (best robust validation accuracy {early.best_value:.4f}).")
    return checkpoint, best_epoch, seconds, dashboard


def _run_in_folder(config, config_yaml, dataset, arch_options, log, distribution):
    from kerobust.callbacks.dashboard import write_test_results
    from kerobust.evaluation import evaluate_robustness, format_table
    from kerobust.evaluation.masking import diagnose
    from kerobust.evaluation.summary import robustbench_summary
    from kerobust.norms import layer_norms

    run_dir = config.run_dir
    classifier, trainer = _build(config, dataset, arch_options, distribution)
    checkpoint, best_epoch, train_seconds, dashboard = _train(config, dataset, trainer, run_dir, log, distribution)

    attacks = evaluation_attacks(config, dataset)
    log(f"Evaluating on {len(dataset.x_test)} test points: clean, " + ", ".join(a.describe() for a in attacks))
    result = evaluate_robustness(classifier, dataset.x_test, dataset.y_test, attacks, seed=config.seed,
                                 progress=log is print)
    if config.diagnostics_points:
        log(f"Gradient-masking probe on {min(config.diagnostics_points, len(dataset.x_test))} test points (FGSM, "
            "PGD-10, PGD-50, PGD-10 at 2 eps, PGD-20 over the whole box, Square-300)...")
    diagnose(classifier, dataset.x_test, dataset.y_test, result, config.threat_norm, config.eval_eps,
             points=config.diagnostics_points, seed=config.seed)
    log(format_table({f"{classifier.name} {config.train_method}": result}))
    bounds = sound_bounds(classifier, dataset.x_test, dataset.y_test, log)
    certified = certified_block(classifier, dataset.x_test, dataset.y_test, config, log)
    failure = chance_failure(result.clean_top1, dataset.y_test, config.train_method)
    metrics = stamped(dict(
        status="failed" if failure else "ok", **({"failure": failure} if failure else {}),
        **result.to_json(), dataset=dataset.name, arch=config.arch, model=classifier.name,
        train_method=config.train_method, threat_norm=config.threat_norm, epochs=config.fit_epochs,
        train_seconds=round(train_seconds, 1), best_epoch=best_epoch,
        robustbench=robustbench_summary(result, dataset.name, config.threat_norm, config.eval_eps),
        regularisers=regulariser_descriptions(config), distribution=distribution.record(),
        layer_norms=[dataclasses.asdict(row) for row in layer_norms(classifier)],
        bounds=bounds, **({"certified": certified} if certified else {}), history=checkpoint.history,
        dashboard=_dashboard_block(config, dashboard, train_seconds, log),
        export={"status": "pending"},
    ))
    write_test_results(os.path.join(run_dir, "logs"), test_accuracies(result, config.threat_norm, certified),
                       config.fit_epochs - 1)  # the last epoch's step
    fit_result = FitResult(config, classifier, result, bounds, metrics, run_dir, train_seconds, best_epoch)
    log("Saving model.keras" + (" and exporting the SavedModel" if config.export and not failure else "")
        + ", each checked on reload...")
    _save_and_export(fit_result, dataset.x_test[:64])
    exported = "" if failure or not config.export else f"saved_model/, {'model.onnx, ' if config.export_onnx else ''}"
    log(f"Run folder {run_dir}: config.yaml, metrics.json (with per-layer norms and sound bounds), model.keras, "
        f"{exported}logs/ (TensorBoard), checkpoints/")
    if failure:
        log(f"The model is not exported, as the training failed (kerobust export --model {fit_result.model_path} "
            "writes it anyway).")
    return fit_result


def attack_tag(description: str, norm: str, threat_norm: str) -> str:
    """The dashboard's name of an attack from its description: `pgd-20`, `fgsm`, `autoattack`; `pgd-20_l2` off the
    threat norm."""
    from kerobust.callbacks.robust_validation import short_name

    name = short_name(description)
    return name if norm == threat_norm else f"{name}_{norm}"


def test_accuracies(result: RobustnessResult, threat_norm: str, certified: dict | None) -> dict[str, float | None]:
    """The test split's accuracies the dashboard shows after training: clean, each attack (a suite by its total, not
    its members) and certified."""
    accuracies: dict[str, float | None] = {"clean": result.clean_top1}
    for attack in result.reported_attacks():
        accuracies[attack_tag(attack.description or attack.name, attack.norm, threat_norm)] = attack.top1
    accuracies["certified"] = (certified or {}).get("certified_accuracy")
    return accuracies


def hparams_config(config: FitConfig) -> dict[str, Any]:
    """The configuration the HParams table shows: every field but the architecture options `config.arch` does not
    take (a basicnet run has no WideResNet `k`)."""
    from kerobust.experiment.config import ARCH_OPTIONS

    taken = architecture_options(config, explicit=())
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in ARCH_OPTIONS or k in taken}


def hparams_metrics(config: FitConfig, dataset: Dataset) -> list[str]:
    """The HParams table's metric columns: the test split's accuracies, then the last epoch's validation ones."""
    from kerobust.catalog import CERTIFIED

    attacks = [attack_tag(a.describe(), a.norm, config.threat_norm)
               for a in evaluation_attacks(config, dataset)]
    steps = config.eval_steps[0]  # type: ignore[index]  # a resolved config has its evaluation steps
    validation = ["accuracy/clean", f"accuracy/pgd-{steps}"] if config.val_points else []
    certified = ["test/certified"] if config.train_method in CERTIFIED else []
    return ["test/clean", *(f"test/{a}" for a in attacks), *certified, *validation]


def _dashboard_block(config, dashboard, train_seconds, log):
    """metrics.json's `dashboard` block: how often its costly summaries ran and what the dashboard cost (over every
    session of a resumed run)."""
    share = dashboard.seconds / train_seconds if train_seconds > 0 else 0.0
    every = config.dashboard_period
    cadence = f"costly summaries every {plural(every, 'epoch')}" if every else "per-epoch scalars only"
    log(f"Dashboard (tensorboard --logdir {os.path.join(config.run_dir, 'logs')}; {cadence}): "
        f"{dashboard.seconds:.1f} s of {train_seconds:.1f} s training ({100 * share:.1f} %)")
    return {"every": every, "seconds": round(dashboard.seconds, 2),
            "share_of_training": round(share, 4)}


def _save_and_export(fit_result, probe):
    """Writes `metrics.json` first, then the `.keras` file and (unless the training failed) the SavedModel, each
    checked on reload; records the outcome (or the error) in `metrics.json` and raises the error after that."""
    from kerobust.atomic_files import write_json
    from kerobust.export import export_onnx, export_saved_model, save_keras

    metrics = fit_result.metrics
    write_json(fit_result.metrics_path, metrics)
    errors = {}
    try:
        errors["keras"] = save_keras(fit_result.classifier, fit_result.model_path, probe)
        config = fit_result.config
        if metrics["status"] == "failed" or not config.export:
            reason = "the training failed" if metrics["status"] == "failed" else "not requested (--export false)"
            metrics["export"] = {"status": "skipped", "reason": reason, "max_abs_error": errors}
            write_json(fit_result.metrics_path, metrics)
            return
        errors["saved_model"], certification = export_saved_model(
            fit_result.classifier, fit_result.saved_model_path, probe, config.threat_norm, config.eval_eps)
        if config.export_onnx:
            errors["onnx"] = export_onnx(fit_result.classifier, fit_result.onnx_path, probe)
    except KerobustError as error:
        metrics["export"] = {"status": "failed", "error": str(error), "max_abs_error": errors}
        write_json(fit_result.metrics_path, metrics)
        raise KerobustError(f"{error} The evaluation is saved in {fit_result.metrics_path}.") from None
    signatures = ["serve", "serving_default"] + (["certify", "certify_at_radius"]
                                                 if isinstance(certification, list) else [])
    metrics["export"] = {"status": "ok", "max_abs_error": errors, "signatures": signatures,
                         "certify": {"methods": certification, "threat_norm": config.threat_norm,
                                     "eps": config.eval_eps}
                         if isinstance(certification, list) else {"unavailable": certification}}
    write_json(fit_result.metrics_path, metrics)


def certified_block(classifier: keras.Model, x: ArrayLike, y: ArrayLike, config: FitConfig,
                    log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """metrics.json's `certified` block of a certified-training run: certified accuracy at the evaluation eps by IBP,
    CROWN-IBP and the global Lipschitz bound (all cheap), and by the best of them per point; None for other training
    methods."""
    from kerobust.catalog import CERTIFIED
    from kerobust.evaluation.certifiers import best_certified_accuracy, build_certifier

    if config.train_method not in CERTIFIED:
        return None
    methods = ["ibp", "crown-ibp", "lipschitz"]
    certifiers = [build_certifier(classifier, method, config.threat_norm) for method in methods]
    best, by_method, _ = best_certified_accuracy(certifiers, np.asarray(x, "float32"), np.asarray(y, "int64"),
                                                 config.eval_eps)  # type: ignore[arg-type]  # a resolved config
    block: dict[str, Any] = {"method": "+".join(methods), "threat_norm": config.threat_norm, "eps": config.eval_eps,
                             "certified_accuracy": best, "by_method": by_method}
    log(f"Certified accuracy at {config.threat_norm} eps {config.eval_eps:g}: "
        f"{100 * block['certified_accuracy']:.2f} % "
        "(" + ", ".join(f"{m} {100 * v:.2f} %" for m, v in block["by_method"].items()) + ")")
    return block


def sound_bounds(classifier: keras.Model, x: Array, y: Array,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Sound-mode lower bounds on the smallest l2 perturbation over the test split (Peck 2017, "Robustness of
    Classifiers to Adversarial Perturbations"), summarised as by `kerobust bound`, or the reason the model has none
    (random layers, a layer without a rule)."""
    from kerobust.bounds import BoundEvaluator
    from kerobust.bounds.lipschitz.summary import bounds_and_summary

    try:
        evaluator = BoundEvaluator(classifier, "sound")
    except KerobustError as error:
        log(f"No sound bounds: {error}")
        return {"mode": "sound", "unavailable": str(error)}
    result = {"mode": "sound", **bounds_and_summary(evaluator, classifier, x, y)[1]}
    certified = ", ".join(f"{eps}: {100 * share['accuracy']:.1f} %" for eps, share in result["certified"].items())
    log(f"Sound l2 lower bound on the smallest adversarial perturbation (Peck 2017): mean {result['mean']:.3g}, "
        f"median {result['median']:.3g}; certified accuracy at l2 {certified}")
    return result
