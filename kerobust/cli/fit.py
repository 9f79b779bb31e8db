"""`kerobust fit`: train a model adversarially, evaluate clean / FGSM / PGD accuracy, save and export it.

Data flow (design.md): config -> dataset -> model -> adversarial training model -> fit with callbacks ->
evaluation -> metrics.json and printed table -> `.keras` file and SavedModel.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time

from kerobust.cli.fit_config import (
    ARCH_OPTIONS, FIELDS, FitConfig, default_run_dir, fill_dataset_defaults, resolve_fit_config, to_yaml,
)
from kerobust.cli.run_folder import CONFIG_FILE, prepare_run_folder
from kerobust.errors import KerobustError

_FLAGS = (
    ("--arch", "architecture: wrn, resnet20, resnet18, vgg11, senet18, regnetx_200mf, basicnet, noisenet20, "
               "lenet5, lenet5_lrn1, lenet5_lrn2, lenet5_lrn3, cifar_nin"),
    ("--k", "WideResNet widening factor"),
    ("--depth", "WideResNet depth (6n + 4)"),
    ("--norm", "normalisation inside the model: none, bn, convnorm, bn+convnorm (wrn, resnets, vgg11, senet18)"),
    ("--dropout", "dropout rate"),
    ("--width", "channels of basicnet's first layer / cifar_nin's mlpconv layers"),
    ("--noise", "parametric noise granularity of noisenet20: layerwise, channelwise, elementwise"),
    ("--input-noise", "Gaussian noise (pixels) on the input, also at inference"),
    ("--data", "digits, cifar10, cifar100, mnist, fashion_mnist, svhn, or npz:PATH"),
    ("--data-dir", "tfds data directory"),
    ("--epochs", "training epochs (free training runs epochs / replays passes)"),
    ("--batch-size", "batch size"),
    ("--train-method", "natural, fgsm, pgd, free, pni (0.5 clean + 0.5 PGD loss, Rakin et al.), mat-rand or mat-max "
                       "(l-inf and l2 PGD, Araujo et al.)"),
    ("--threat-norm", "linf or l2 threat model for training and evaluation"),
    ("--eps", "training radius, e.g. 0.2 or 8/255 (default: the dataset's)"),
    ("--steps", "PGD steps in training"),
    ("--step-size", "PGD step size in training"),
    ("--replays", "minibatch replays m for free training"),
    ("--l2-eps", "l2 training radius of mat-rand / mat-max (default: the dataset's l2 radius)"),
    ("--adversarial-share", "share of adversarial training, e.g. 0.95 (the rest natural; fgsm, pgd, mat-*)"),
    ("--mix", "how natural and adversarial mix: batch (whole natural batches, seed 002) or example"),
    ("--optimizer", "adamw, adam or sgd"),
    ("--lr", "learning rate"),
    ("--lr-schedule", "constant, multistep (x gamma at --milestones) or cosine (with --warmup-epochs)"),
    ("--milestones", "epochs where multistep multiplies the learning rate by gamma, e.g. 20,30 (default 50%,75%)"),
    ("--gamma", "multistep factor"),
    ("--warmup-epochs", "linear warm-up epochs of the cosine schedule"),
    ("--weight-decay", "decoupled weight decay (default: adamw 0.01, sgd 5e-4, adam none)"),
    ("--norm-decay", "l1 or linf: seed 001's norm decay of every conv and dense layer's operator norm (none: off)"),
    ("--nd-beta", "norm decay strength beta (each of the N layers gets beta / N)"),
    ("--nd-gamma", "norm decay momentum gamma in [0, 1)"),
    ("--svc", "singular value clipping: limit c of every conv's circular-operator singular values"),
    ("--svc-every", "batches between singular value clips (and on each epoch's last batch)"),
    ("--svc-operator", "circular (Sedghi et al.: circular conv on the input size) or layer (also bounds zero-padded convs)"),
    ("--seed", "random seed"),
    ("--run-dir", "run folder (default runs/<arch>_<data>_<method>)"),
    ("--eval-eps", "evaluation radius (default: the training eps)"),
    ("--eval-l2-eps", "l2 evaluation radius of mat-* runs (default: --l2-eps)"),
    ("--eval-steps", "PGD step counts at evaluation, e.g. 10,20"),
    ("--eval-step-size", "PGD step size at evaluation"),
    ("--val-points", "validation points attacked after each epoch"),
    ("--restore-best", "true: end with the weights of the epoch of best robust validation accuracy (Rice et al.)"),
    ("--patience", "stop after this many epochs without better robust validation accuracy (restores the best)"),
    ("--diagnostics-points", "points of the gradient-masking probe at evaluation (0: off)"),
    ("--jit", "XLA compilation: auto (JAX always, TensorFlow on GPU), on, off"),
)


def add_arguments(parser):
    parser.add_argument("--config", help="YAML file of defaults (flags override it)")
    for flag, help_text in _FLAGS:
        parser.add_argument(flag, help=help_text, default=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def _check_architecture_options(config, explicit):
    from kerobust.models import architecture_options

    accepted = architecture_options(config.arch)
    unsupported = sorted(k for k in explicit & set(ARCH_OPTIONS) if k not in accepted)
    if unsupported:
        raise KerobustError(f"architecture {config.arch!r} does not take {', '.join('--' + k for k in unsupported)}.")
    return {k: getattr(config, k) for k in ARCH_OPTIONS if k in accepted and getattr(config, k) is not None}


def run(args):
    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    config, explicit = resolve_fit_config(flags, args.config)

    from kerobust.data.registry import load_dataset, threat_model_for

    fill_dataset_defaults(config, threat_model_for(config.data))
    arch_options = _check_architecture_options(config, explicit)
    run_dir = config.run_dir or default_run_dir(config)
    config.run_dir = run_dir
    config_yaml = to_yaml(config)
    prepare_run_folder(run_dir, config_yaml, defaults=dataclasses.asdict(FitConfig()))
    dataset = load_dataset(config.data, config.data_dir)
    return _train_and_report(config, config_yaml, dataset, arch_options, run_dir)


def _evaluation_attacks(config, threat_model):
    """FGSM and PGD at the evaluation radius; MAT runs add the same attacks in l2."""
    from kerobust.evaluation import standard_attacks

    attacks = standard_attacks(
        threat_model, eps=config.eval_eps, steps=config.eval_steps, step_size=config.eval_step_size,
        norm=config.threat_norm,
    )
    if config.eval_l2_eps:
        attacks += standard_attacks(threat_model, eps=config.eval_l2_eps, steps=config.eval_steps, norm="l2")
    return attacks


def _train_and_report(config, config_yaml, dataset, arch_options, run_dir):
    import keras

    from kerobust.atomic_files import write_text
    from kerobust.backend import use_xla
    from kerobust.attacks import PGD
    from kerobust.callbacks import (
        NaNGuard, ResumableCheckpoint, RobustEarlyStopping, RobustValidation, SingularValueClipping,
    )
    from kerobust.data import TrainingBatches
    from kerobust.evaluation import evaluate_robustness, format_table, write_metrics
    from kerobust.evaluation.masking import diagnose
    from kerobust.evaluation.summary import robustbench_summary
    from kerobust.export import export_saved_model, save_keras
    from kerobust.models import build_model
    from kerobust.norms import layer_norms
    from kerobust.regularizers import NormDecay
    from kerobust.training import AdversarialModel, build_training_method
    from kerobust.training.optimizers import build_optimizer
    from kerobust.training.schedules import build_schedule

    started = time.time()
    keras.utils.set_random_seed(config.seed)
    classifier = build_model(config.arch, dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std, **arch_options)
    method = build_training_method(
        config.train_method, eps=config.eps, steps=config.steps, step_size=config.step_size,
        replays=config.replays, norm=config.threat_norm, seed=config.seed, l2_eps=config.l2_eps,
        adversarial_share=config.adversarial_share, mix=config.mix,
    )
    # Free training takes `replays` optimizer steps per batch: its schedule runs over fit_epochs * replays passes.
    replays = config.replays if method.kind == "replay" else 1
    schedule = build_schedule(
        config.lr_schedule, config.lr, config.fit_epochs * replays, math.ceil(len(dataset.x_train) / config.batch_size),
        milestones=config.milestones, gamma=config.gamma, warmup_epochs=config.warmup_epochs,
    )
    norm_decay = None
    if config.norm_decay is not None:
        norm_decay = NormDecay(config.norm_decay, config.nd_beta, config.nd_gamma)
    clipping = None
    if config.svc is not None:
        clipping = SingularValueClipping(config.svc, every=config.svc_every, classifier=classifier,
                                         operator=config.svc_operator)
    trainer = AdversarialModel(classifier, method, batch_size=config.batch_size, norm_decay=norm_decay)
    trainer.compile(
        optimizer=build_optimizer(config.optimizer, schedule, config.weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=use_xla(config.jit),
    )
    checkpoint = ResumableCheckpoint(os.path.join(run_dir, "checkpoints"))
    initial_epoch = checkpoint.restore(trainer)
    early = None
    if config.restore_best or config.patience:
        early = RobustEarlyStopping(
            os.path.join(run_dir, "best"), patience=config.patience, restore_best=False, classifier=classifier
        )
    write_text(os.path.join(run_dir, CONFIG_FILE), config_yaml)
    regularisers = [norm_decay.describe()] if norm_decay else []
    if clipping:
        regularisers.append(
            f"singular value clipping to {config.svc:g} every {config.svc_every} batches ({config.svc_operator} operator)"
        )
    print(f"kerobust fit: {classifier.name} ({classifier.count_params():,} parameters) on {dataset.name}, "
          f"{method.describe()}, {config.fit_epochs} epochs" + "".join(f", {r}" for r in regularisers) + (f", resuming after epoch {initial_epoch}" if initial_epoch else ""))

    validation_attack = PGD(
        eps=config.eval_eps, norm=config.threat_norm, num_steps=config.eval_steps[0], step_size=config.eval_step_size
    )
    callbacks = [NaNGuard(hint=f"Lower --lr (now {config.lr:g}) or check the data.")]
    if clipping is not None:
        callbacks.append(clipping)  # clips on each epoch's last batch: validation and checkpoints see clipped weights
    if config.val_points:
        callbacks.append(
            RobustValidation(classifier, dataset.x_val, dataset.y_val, validation_attack, max_points=config.val_points)
        )
    if early is not None:
        callbacks.append(early)  # after robust validation (it reads its value), before the checkpoint
    callbacks += [checkpoint, keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False)]
    batches = TrainingBatches(
        dataset.x_train, dataset.y_train, config.batch_size, dataset.augmentation, seed=config.seed + initial_epoch
    )
    if initial_epoch < config.fit_epochs and not (early is not None and early.stopped):
        trainer.fit(
            batches, validation_data=(dataset.x_val, dataset.y_val), epochs=config.fit_epochs,
            initial_epoch=initial_epoch, callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2,
        )
    train_seconds = time.time() - started
    best_epoch = None
    if early is not None:  # --patience implies --restore-best
        best_epoch = early.restore(classifier)
        if best_epoch is not None:
            print(f"Restored the weights of epoch {best_epoch} (best robust validation accuracy {early.best_value:.4f}).")

    attacks = _evaluation_attacks(config, dataset.threat_model)
    print(f"Evaluating on {len(dataset.x_test)} test points: clean, " + ", ".join(a.describe() for a in attacks))
    result = evaluate_robustness(classifier, dataset.x_test, dataset.y_test, attacks, seed=config.seed)
    diagnose(classifier, dataset.x_test, dataset.y_test, result, config.threat_norm, config.eval_eps,
             points=config.diagnostics_points, seed=config.seed)
    title = f"{classifier.name} {config.train_method}"
    print(format_table({title: result}))
    bounds = _sound_bounds(classifier, dataset.x_test, dataset.y_test)

    probe = dataset.x_test[:64]
    keras_error = save_keras(classifier, os.path.join(run_dir, "model.keras"), probe)
    export_error = export_saved_model(classifier, os.path.join(run_dir, "saved_model"), probe)
    write_metrics(
        os.path.join(run_dir, "metrics.json"), result, dataset=dataset.name, arch=config.arch,
        model=classifier.name, train_method=config.train_method, threat_norm=config.threat_norm,
        epochs=config.fit_epochs, train_seconds=round(train_seconds, 1), best_epoch=best_epoch,
        robustbench=robustbench_summary(result, dataset.name, config.threat_norm, config.eval_eps),
        export_max_abs_error={"keras": keras_error, "saved_model": export_error},
        regularisers=regularisers, layer_norms=[dataclasses.asdict(row) for row in layer_norms(classifier)],
        bounds=bounds, history=checkpoint.history,
    )
    print(f"Run folder {run_dir}: config.yaml, metrics.json (with per-layer norms and sound bounds), model.keras, saved_model/, logs/ (TensorBoard), checkpoints/")
    print(json.dumps({"clean_top1": result.clean_top1, **{a.description: a.top1 for a in result.attacks}}))
    return 0



def _sound_bounds(classifier, x, y):
    """Sound-mode lower bounds on the smallest l2 perturbation (seed 003) over the test split, summarised as by
    `kerobust bound`, or the reason the model has none (random layers, a layer without a rule)."""
    from kerobust.bounds import BoundEvaluator
    from kerobust.cli.bound import bounds_and_summary

    try:
        evaluator = BoundEvaluator(classifier, "sound")
    except KerobustError as error:
        print(f"No sound bounds: {error}")
        return {"mode": "sound", "unavailable": str(error)}
    result = {"mode": "sound", **bounds_and_summary(evaluator, classifier, x, y)[1]}
    certified = ", ".join(f"{eps}: {100 * share['accuracy']:.1f} %" for eps, share in result["certified"].items())
    print(f"Sound l2 lower bound on the smallest adversarial perturbation (seed 003): mean {result['mean']:.3g}, "
          f"median {result['median']:.3g}; certified accuracy at l2 {certified}")
    return result
