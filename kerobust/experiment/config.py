"""The resolved configuration of a fit run: CLI flags over `--config FILE.yaml` over dataset defaults.

Imports no framework at module level, so `kerobust fit --help` stays fast; `validate` imports the registries.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from kerobust.catalog import (
    ARCHITECTURES, DATASETS, JIT_SETTINGS, LR_SCHEDULES, MIXES, MODEL_NORMS, NOISE_GRANULARITIES, NORM_DECAY_NORMS,
    OPTIMIZERS, STRATEGIES, SVC_OPERATORS, THREAT_NORMS, TRAINING_METHODS,
)
from kerobust.errors import KerobustError, require, unknown_name
from kerobust.training.method_rules import (
    ALP_WEIGHT, AWP_GAMMA, FAST_IBP_LAMBDA, MART_BETA, MTL_ALPHA, SABR_LAMBDA, TRADES_BETA,
)
from kerobust.experiment.options import Range, declarations, flag, option, path, text, type_problem, value_problem
from kerobust.values import boolean, convert, number, whole, whole_list

if TYPE_CHECKING:
    from kerobust.data.threat_model import ThreatModel

SEED_LIMIT = 2**31 - 1  # seeds enter int32 seed pairs of the stateless random functions
AT_LEAST_0, AT_LEAST_1, ABOVE_0 = Range(0), Range(1), Range(0, open_low=True)


# The gradient-masking probe's default test points: all of digits' 360, so that the reported worst case, which takes
# the probe's attacks in, is never above an accuracy the probe reports.
PROBE_POINTS = 512


@dataclasses.dataclass
class FitConfig:
    """Everything a `kerobust fit` run depends on; `None` means "the dataset's default" until resolved.

    Each field is declared once with `option` (converter, help, group, valid names or range); the flags, YAML keys,
    converters, `--help`, per-field checks and `docs/fit.md`'s flag table come from these declarations. Architecture
    options (`depth`, `k`, `norm`, `dropout`, `width`, `noise`, `input_noise`) go to the architectures that take
    them; `None` leaves the architecture's own default.
    """

    # model
    arch: str = option("wrn", text, "architecture: " + ", ".join(ARCHITECTURES), "model",
                       names=("architecture", ARCHITECTURES))
    depth: int = option(16, whole, "WideResNet depth (6n + 4)", "model", valid=AT_LEAST_1)
    k: int = option(1, whole, "WideResNet widening factor", "model", valid=AT_LEAST_1)
    norm: str = option("bn", text, "normalisation inside the model: none, bn, convnorm, bn+convnorm (wrn, resnets, "
                       "vgg11, senet18)", "model", names=("normalisation", MODEL_NORMS))
    dropout: float = option(0.0, number, "dropout rate", "model", valid=Range(0, 1, open_high=True),
                            label="dropout rate")
    width: int | None = option(None, whole, "channels of basicnet's first layer / cifar_nin's mlpconv layers", "model",
                               valid=AT_LEAST_1)
    noise: str | None = option(None, text, "parametric noise granularity of noisenet20: layerwise, channelwise, "
                               "elementwise", "model", names=("noise granularity", NOISE_GRANULARITIES))
    input_noise: float | None = option(None, number, "Gaussian noise (pixels) on the input, also at inference",
                                       "model", valid=AT_LEAST_0)
    # data
    data: str = option("digits", text, "digits, cifar10, cifar100, mnist, fashion_mnist, svhn, or npz:PATH", "data")
    data_dir: str | None = option(None, path, "tfds data directory", "data")
    # training
    epochs: int = option(30, whole, "training epochs (free training runs epochs / replays passes)", "training",
                         valid=AT_LEAST_1)
    batch_size: int = option(128, whole, "batch size", "training", valid=AT_LEAST_1)
    train_method: str = option(
        "pgd", text, "natural, fgsm, pgd, trades (Zhang et al.), alp (adversarial logit pairing, Kannan et al.), mart "
        "(Wang et al.), free, pni (0.5 clean + 0.5 PGD loss, Rakin et al.), mat-rand or mat-max (l-inf and l2 PGD, "
        "Araujo et al.); certified training: ibp (Gowal et al.), crown-ibp (Zhang et al.), sabr (Mueller et al.), "
        "mtl-ibp (De Palma et al.) or lipschitz-margin (Tsuzuku et al.; l2)", "training",
        names=("training method", TRAINING_METHODS))
    trades_beta: float = option(TRADES_BETA, number, "TRADES: weight beta of KL(f(x) || f(x')) beside the clean "
                                "cross-entropy (Zhang et al. 2019)", "training", valid=AT_LEAST_0,
                                label="--trades-beta", methods="trades")
    alp_weight: float = option(ALP_WEIGHT, number, "ALP: weight lambda of the mean squared difference of clean and "
                               "adversarial logits (Kannan et al. 2018)", "training", valid=AT_LEAST_0,
                               label="--alp-weight", methods="alp")
    mart_beta: float = option(MART_BETA, number, "MART: weight beta of the misclassification-weighted KL term "
                              "(Wang et al. 2020)", "training", valid=AT_LEAST_0, label="--mart-beta",
                              methods="mart")
    awp: float = option(0.0, number, "adversarial weight perturbation gamma: each step's gradient is taken at weights "
                        "moved up the loss by gamma times each layer's norm (Wu et al. 2020, who used "
                        f"{AWP_GAMMA:g}; 0: off); with fgsm, pgd, trades, alp, mart, pni, mat-*", "training",
                        valid=AT_LEAST_0, label="--awp (gamma)", methods="awp")
    replays: int = option(4, whole, "minibatch replays m for free training", "training", valid=AT_LEAST_1)
    eps_warmup_epochs: int = option(0, whole, "free training: epochs (passes) over which eps and the step grow "
                                    "linearly from 0", "training", valid=AT_LEAST_0, label="eps warm-up epochs",
                                    methods="free")
    free_box: bool = option(False, boolean, "true: free training as Wong et al. 2020: input x + delta unclipped, "
                            "delta projected after each update so that x + delta stays in [0, 1] (default: Shafahi "
                            "et al.'s clip of x + delta)", "training", methods="free")
    cert_warmup_epochs: int | None = option(None, whole, "certified training: natural epochs before the eps ramp "
                                            "(default: 5% of the epochs)", "training", valid=AT_LEAST_0,
                                            label="--cert-warmup-epochs", methods="certified")
    cert_ramp_epochs: int | None = option(None, whole, "certified training: epochs over which eps grows from 0 and "
                                          "kappa (and beta) fall (default: half the epochs)", "training",
                                          valid=AT_LEAST_0, label="--cert-ramp-epochs", methods="certified")
    sabr_lambda: float = option(SABR_LAMBDA, number, "SABR: the small box's radius as a share lambda of eps "
                                "(Mueller et al. 2023; 1 is IBP)", "training", valid=Range(0, 1, open_low=True),
                                label="--sabr-lambda", methods="sabr")
    mtl_alpha: float = option(MTL_ALPHA, number, "MTL-IBP: weight alpha of the IBP loss against the adversarial loss "
                              "(De Palma et al. 2024)", "training", valid=Range(0, 1), label="--mtl-alpha",
                              methods="mtl-ibp")
    ibp_init: bool = option(False, boolean, "true: Shi et al.'s (2021) fast IBP training: every kernel but the last "
                            "drawn from N(0, 2 pi / fan_in^2), and their warm-up regularisers (bound tightness, "
                            f"balanced ReLU states; weight {FAST_IBP_LAMBDA:g}, fading over the eps ramp)", "training",
                            label="--ibp-init", methods="ibp-init")
    kappa_end: float | None = option(None, number, "certified training: final weight of the natural loss (default "
                                     "0.5 for ibp, else 0)", "training", valid=Range(0, 1), label="--kappa-end",
                                     methods="certified")
    adversarial_share: float = option(1.0, number, "share of adversarial training, e.g. 0.95 (the rest natural; "
                                      "fgsm, pgd, mat-*)", "training")
    mix: str = option("batch", text, "how natural and adversarial mix: batch (whole natural batches, as Bigaud et "
                      "al. 2021) or example", "training", names=("mix", MIXES))
    optimizer: str = option("adamw", text, "adamw, adam or sgd", "training", names=("optimizer", OPTIMIZERS))
    lr: float = option(1e-3, number, "learning rate", "training", valid=ABOVE_0, label="learning rate")
    lr_schedule: str = option("constant", text, "constant, multistep (x gamma at --milestones) or cosine (with "
                              "--warmup-epochs)", "training", names=("learning-rate schedule", LR_SCHEDULES))
    milestones: list[int] | None = option(None, whole_list, "epochs where multistep multiplies the learning rate by "
                                          "gamma, e.g. 20,30 (default 50%,75%)", "training")
    gamma: float = option(0.1, number, "multistep factor", "training", valid=ABOVE_0)
    warmup_epochs: int = option(0, whole, "linear warm-up epochs of the cosine schedule", "training",
                                valid=AT_LEAST_0)
    weight_decay: float | None = option(None, number, "decoupled weight decay (default: adamw 0.01, sgd 5e-4, adam "
                                        "none)", "training", valid=AT_LEAST_0)
    norm_decay: str | None = option(None, text, "l1 or linf: Liang & Huang's (2021) norm decay of every conv and "
                                    "dense layer's operator norm, Algorithm 1 (none: off)", "training",
                                    names=("norm decay norm", NORM_DECAY_NORMS))
    nd_beta: float = option(1e-4, number, "norm decay strength beta (each of the N layers gets beta / N)", "training",
                            valid=AT_LEAST_0, label="norm decay beta")
    nd_gamma: float = option(0.5, number, "norm decay momentum gamma in [0, 1)", "training",
                             valid=Range(0, 1, open_high=True), label="norm decay gamma (momentum)")
    svc: float | None = option(None, number, "singular value clipping: limit c of every conv's circular-operator "
                               "singular values", "training", valid=ABOVE_0, label="svc (the singular value limit)")
    svc_every: int = option(100, whole, "batches between singular value clips (and on each epoch's last batch)",
                            "training", valid=Range(1, unit="batch"))
    svc_operator: str = option("circular", text, "circular (Sedghi et al.: circular conv on the input size) or layer "
                               "(also bounds zero-padded convs)", "training", names=("svc operator", SVC_OPERATORS))
    seed: int = option(0, whole, "random seed", "training", valid=Range(0, SEED_LIMIT))
    restore_best: bool = option(False, boolean, "true: end with the weights of the epoch of best robust validation "
                                "accuracy (Rice et al.)", "training")
    patience: int | None = option(None, whole, "stop after this many epochs without better robust validation "
                                  "accuracy (restores the best)", "training", valid=AT_LEAST_1)
    # threat model
    threat_norm: str = option("linf", text, "linf or l2 threat model for training and evaluation", "threat model",
                              names=("threat norm", THREAT_NORMS))
    eps: float | None = option(None, number, "training radius, e.g. 0.2 or 8/255 (default: the dataset's)",
                               "threat model", valid=AT_LEAST_0)
    steps: int | None = option(None, whole, "PGD steps in training", "threat model", valid=AT_LEAST_1)
    step_size: float | None = option(None, number, "PGD step size in training; free training's replay step "
                                     "(default: eps)", "threat model", valid=ABOVE_0)
    l2_eps: float | None = option(None, number, "l2 training radius of mat-rand / mat-max (default: the dataset's "
                                  "l2 radius)", "threat model", valid=AT_LEAST_0)
    # evaluation
    eval_eps: float | None = option(None, number, "evaluation radius (default: the training eps)", "evaluation",
                                    valid=AT_LEAST_0)
    eval_l2_eps: float | None = option(None, number, "l2 evaluation radius of mat-* runs (default: --l2-eps)",
                                       "evaluation", valid=AT_LEAST_0)
    eval_steps: list[int] | None = option(None, whole_list, "PGD step counts at evaluation, e.g. 10,20",
                                          "evaluation", valid=AT_LEAST_1)
    eval_step_size: float | None = option(None, number, "PGD step size at evaluation", "evaluation", valid=ABOVE_0)
    val_points: int = option(512, whole, "validation points attacked after each epoch", "evaluation",
                             valid=AT_LEAST_0)
    autoattack: bool = option(
        False, boolean, "true: also attack the test split with the standard AutoAttack at the evaluation radius "
        "(APGD-CE, APGD-T, FAB-T, Square-5000; the rand version for a randomised model); its points join the reported "
        "worst-case robust accuracy (costly: about 2 min more for a 3-epoch basicnet on digits' 360 test points, "
        "2 CPU cores)",
        "evaluation")
    diagnostics_points: int = option(PROBE_POINTS, whole, "points of the gradient-masking probe at evaluation (0: off)",
                                     "evaluation", valid=AT_LEAST_0)
    # output and runtime
    run_dir: str | None = option(None, path, "run folder (default runs/<arch>_<data>_<method>)", "output and runtime")
    dashboard_every: int | None = option(
        None, whole, "epochs between the dashboard's costly TensorBoard summaries: certification, layer norms, "
        "histograms, adversarial examples (default: about 10 per run, every epochs // 10 epochs, at least 1; 0: only "
        "the per-epoch accuracy and loss scalars)", "output and runtime",
        valid=Range(0, unit="epochs", note="(0: per-epoch scalars only)"))
    export: bool = option(True, boolean, "false: save model.keras only, without the SavedModel (a search's trials "
                          "until the best is chosen)", "output and runtime")
    export_onnx: bool = option(False, boolean, "true: also write model.onnx through Keras's ONNX exporter, checked "
                               "with onnxruntime (needs kerobust[onnx]; not for models with noise layers)",
                               "output and runtime")
    distribute: str | None = option(
        None, text, "mirrored: tf.distribute.MirroredStrategy over the local GPUs, or with --replicas N over N "
        "logical devices of the CPU; multi-worker: MultiWorkerMirroredStrategy over the tasks of TF_CONFIG (run the "
        "same command on each; the chief writes the run folder); data-parallel (JAX): keras.distribution.DataParallel "
        "over the local GPUs or N host devices of the CPU", "output and runtime",
        names=("distribution strategy", STRATEGIES))
    replicas: int | None = option(None, whole, "devices of --distribute mirrored or data-parallel (default: every "
                                  "GPU; on a CPU, 2)", "output and runtime")
    jit: str = option("auto", text, "XLA compilation: auto (JAX always, TensorFlow on GPU), on, off",
                      "output and runtime", names=("jit setting", JIT_SETTINGS))

    @property
    def dashboard_period(self) -> int:
        """Epochs between the dashboard's costly summaries: `dashboard_every`, else about ten points per run."""
        if self.dashboard_every is not None:
            return self.dashboard_every
        return max(1, self.fit_epochs // 10)

    @property
    def fit_epochs(self) -> int:
        """Epochs passed to `fit`: free training divides the epoch budget by its replays (Shafahi et al.)."""
        if self.train_method == "free":
            return max(1, -(-self.epochs // self.replays))
        return self.epochs


OPTIONS = declarations(FitConfig)
FIELDS = tuple(OPTIONS)
# Options that change only what is done after training: a finished run evaluated again with `--reevaluate` may
# change them.
REEVALUATION_OPTIONS = ("autoattack", "diagnostics_points", "export", "export_onnx")
ARCH_OPTIONS = ("depth", "k", "norm", "dropout", "width", "noise", "input_noise")


def load_yaml_config(path: str) -> dict[str, Any]:
    """Reads a YAML mapping of FitConfig keys (dashes or underscores); unknown keys are an error with a suggestion."""
    if os.path.isdir(path):
        raise KerobustError(f"config file {path!r} is a folder, not a YAML file.")
    if not os.path.isfile(path):
        raise KerobustError(f"config file {path!r} does not exist.")
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except UnicodeDecodeError as error:
        raise KerobustError(f"config file {path!r} is not UTF-8 text (byte {error.start}).") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise KerobustError(f"config file {path!r} is not valid YAML{line}.") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise KerobustError(f"config file {path!r} must hold a mapping of keys to values, got {type(raw).__name__}.")
    values = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            raise unknown_name(f"config key in {path}", str(key), FIELDS)
        values[name] = value
    return values


def is_whole_number_field(key: str) -> bool:
    """Whether FitConfig field `key` holds a whole number."""
    return key in OPTIONS and OPTIONS[key].convert is whole


def convert_value(key: str, value: Any) -> Any:
    """One value for FitConfig field `key`, converted as a flag or YAML value would be."""
    return convert(key, value, OPTIONS[key].convert)


def resolve_fit_config(flags: Mapping[str, Any], config_path: str | None = None) -> tuple[FitConfig, set[str]]:
    """Merges flags over the YAML file over defaults, converts and validates every value.

    Args:
        flags: only the options given on the command line (names as FitConfig fields).
        config_path: optional YAML file.

    Returns:
        `(config, explicit)`: the `FitConfig` (dataset defaults still `None`) and the set of keys the user set.
    """
    values = load_yaml_config(config_path) if config_path else {}
    values.update(flags)
    for key, value in list(values.items()):
        values[key] = convert_value(key, value)
    config = FitConfig(**values)
    if config.norm_decay == "none":  # the flag's way of saying off
        config.norm_decay = None
    validate(config)
    return config, set(values)


def check_types(config: FitConfig) -> None:
    """A one-line error naming the field for a `FitConfig` value of the wrong type (library callers: the CLI and
    YAML values are converted first)."""
    for name, declared in OPTIONS.items():
        value = getattr(config, name)
        problem = None if value is None else type_problem(declared, value)
        if problem == "a finite number":
            raise KerobustError(f"FitConfig.{name} must be a finite number, got {value!r}.")
        if problem:
            raise KerobustError(f"FitConfig.{name} must be {problem}, got {value!r} ({type(value).__name__}).")


def validate(config: FitConfig) -> None:
    """Checks types, names, numbers and ranges before any expensive work, without importing a framework: first
    each option against its declaration, then the rules that tie options together."""
    from kerobust.training.method_rules import check_method_settings

    check_types(config)
    defaults = FitConfig()
    for name, declared in OPTIONS.items():
        value = getattr(config, name)
        if value is None:
            continue
        if declared.names is not None and value not in declared.names[1]:
            raise unknown_name(declared.names[0], value, declared.names[1])
        problem = value_problem(name, declared, value)
        require(problem is None, problem)
    if not (config.data in DATASETS or config.data.startswith("npz:")):
        raise unknown_name("dataset", config.data, DATASETS)
    check_method_settings(config.train_method, config.threat_norm, config.adversarial_share, [
        (flag(name), declared.methods) for name, declared in OPTIONS.items()
        if declared.methods and getattr(config, name) != getattr(defaults, name)])
    require(config.eps_warmup_epochs <= config.fit_epochs, f"--eps-warmup-epochs {config.eps_warmup_epochs} is longer "
            f"than the run's {config.fit_epochs} passes (free training runs --epochs / --replays): eps would never "
            "reach its value.")
    schedule = (config.cert_warmup_epochs or 0) + (config.cert_ramp_epochs or 0)
    require(schedule <= config.epochs, f"the certified schedule (--cert-warmup-epochs {config.cert_warmup_epochs or 0} "
            f"+ --cert-ramp-epochs {config.cert_ramp_epochs or 0}) is longer than the run's {config.epochs} epochs: "
            "eps would never reach its value.")
    require(not (config.val_points == 0 and (config.restore_best or config.patience)),
            "--restore-best and --patience need robust validation (--val-points > 0).")
    require(config.eval_steps is None or len(config.eval_steps) > 0,
            "eval steps must list at least one PGD step count.")
    check_radii(config)
    from kerobust.distribution import check_distribution

    check_distribution(config.distribute, config.replicas)
    if config.replicas:
        check_even_batch(config.distribute, config.batch_size, config.replicas)
    if config.export_onnx:
        from kerobust.export.onnx import require_onnx_tools

        require_onnx_tools()


def check_radii(config: FitConfig, input_size: int | None = None) -> None:
    """Refuses radii whose ball covers the whole input box (l2 ones once the dataset's `input_size` is known)."""
    from kerobust.box_radius import check_radius

    for key, norm in (("eps", config.threat_norm), ("eval_eps", config.threat_norm), ("l2_eps", "l2"),
                      ("eval_l2_eps", "l2")):
        check_radius(key.replace("_", " "), getattr(config, key), norm, input_size)


def check_even_batch(strategy: str | None, batch_size: int, replicas: int) -> None:
    """A one-line error unless each batch splits evenly over the replicas of `--distribute`."""
    require(replicas == 1 or batch_size % replicas == 0,
            f"--distribute {strategy} splits each batch evenly over {replicas} devices: --batch-size {batch_size} is "
            f"not a multiple of {replicas}.")


def fill_dataset_defaults(config: FitConfig, threat_model: ThreatModel) -> FitConfig:
    """Fills the threat-model values left `None` from the dataset's standard threat model."""
    norm = config.threat_norm
    if config.eps is None:
        config.eps = threat_model.radius(norm)
    if config.steps is None:
        config.steps = threat_model.train_steps
    if config.step_size is None:  # free training replays with step eps (Shafahi et al.)
        free = config.train_method == "free"
        config.step_size = config.eps if free else threat_model.training_step(config.eps, norm, config.steps)
    from kerobust.training.registry import CERTIFIED

    if config.train_method in CERTIFIED:
        if config.cert_warmup_epochs is None:
            config.cert_warmup_epochs = config.epochs // 20
        if config.cert_ramp_epochs is None:
            config.cert_ramp_epochs = max(1, config.epochs // 2)
    if config.eval_eps is None:
        config.eval_eps = config.eps
    if config.eval_steps is None:
        config.eval_steps = list(threat_model.eval_steps)
    if config.eval_step_size is None:
        config.eval_step_size = threat_model.evaluation_step(config.eval_eps, norm)
    if config.train_method.startswith("mat-"):
        if config.l2_eps is None:
            config.l2_eps = threat_model.l2_eps
        if config.eval_l2_eps is None:
            config.eval_l2_eps = config.l2_eps
    return config


def architecture_options(config: FitConfig, explicit: Collection[str] | None = None) -> dict[str, Any]:
    """The architecture options `config.arch` takes, as keyword arguments of `build_model`.

    Args:
        config: a validated `FitConfig`.
        explicit: the keys the user set; an option set there that the architecture does not take is an error.
            Default: every option that differs from `FitConfig`'s default.
    """
    from kerobust.models import architecture_options as accepted_by

    if explicit is None:
        defaults = FitConfig()
        explicit = {k for k in ARCH_OPTIONS if getattr(config, k) != getattr(defaults, k)}
    accepted = accepted_by(config.arch)
    unsupported = sorted(k for k in set(explicit) & set(ARCH_OPTIONS) if k not in accepted)
    if unsupported:
        raise KerobustError(f"architecture {config.arch!r} does not take {', '.join('--' + k for k in unsupported)}.")
    return {k: getattr(config, k) for k in ARCH_OPTIONS if k in accepted and getattr(config, k) is not None}


def default_run_dir(config: FitConfig) -> str:
    """`runs/<arch>-<depth>-<k>-<norm>_<data>_<method>` for wrn, `runs/<arch>_<data>_<method>` otherwise."""
    arch = f"{config.arch}-{config.depth}-{config.k}-{config.norm}" if config.arch == "wrn" else config.arch
    data = config.data.replace("npz:", "npz-").replace(os.sep, "_")
    return os.path.join("runs", f"{arch}_{data}_{config.train_method}")


def to_yaml(config: FitConfig) -> str:
    """The resolved config as YAML text (with the epochs actually passed to fit)."""
    payload = dataclasses.asdict(config)
    payload["fit_epochs"] = config.fit_epochs
    return yaml.safe_dump(payload, sort_keys=False)
