"""The resolved configuration of a fit run: CLI flags over `--config FILE.yaml` over dataset defaults.

Imports no framework at module level, so `kerobust fit --help` stays fast; `validate` imports the registries.
"""

import dataclasses
import math
import os

import yaml

from kerobust.errors import KerobustError, require, unknown_name
from kerobust.values import boolean, convert, number, whole, whole_list

SEED_LIMIT = 2**31 - 1  # seeds enter int32 seed pairs of the stateless random functions


@dataclasses.dataclass
class FitConfig:
    """Everything a `kerobust fit` run depends on; `None` means "the dataset's default" until resolved.

    Architecture options (`depth`, `k`, `norm`, `dropout`, `width`, `noise`, `input_noise`) go to the
    architectures that take them; `None` leaves the architecture's own default.
    """

    arch: str = "wrn"
    depth: int = 16
    k: int = 1
    norm: str = "bn"
    dropout: float = 0.0
    width: int = None
    noise: str = None
    input_noise: float = None
    data: str = "digits"
    data_dir: str = None
    epochs: int = 30
    batch_size: int = 128
    train_method: str = "pgd"
    threat_norm: str = "linf"
    eps: float = None
    steps: int = None
    step_size: float = None
    replays: int = 4
    eps_warmup_epochs: int = 0
    free_box: bool = False
    cert_warmup_epochs: int = None
    cert_ramp_epochs: int = None
    kappa_end: float = None
    l2_eps: float = None
    adversarial_share: float = 1.0
    mix: str = "batch"
    optimizer: str = "adamw"
    lr: float = 1e-3
    lr_schedule: str = "constant"
    milestones: list = None
    gamma: float = 0.1
    warmup_epochs: int = 0
    weight_decay: float = None
    norm_decay: str = None
    nd_beta: float = 1e-4
    nd_gamma: float = 0.5
    svc: float = None
    svc_every: int = 100
    svc_operator: str = "circular"
    seed: int = 0
    run_dir: str = None
    eval_eps: float = None
    eval_l2_eps: float = None
    eval_steps: list = None
    eval_step_size: float = None
    val_points: int = 512
    restore_best: bool = False
    patience: int = None
    diagnostics_points: int = 256
    dashboard_every: int = 5
    export_onnx: bool = False
    distribute: str = None
    replicas: int = None
    jit: str = "auto"

    @property
    def fit_epochs(self):
        """Epochs passed to `fit`: free training divides the epoch budget by its replays (Shafahi et al.)."""
        if self.train_method == "free":
            return max(1, -(-self.epochs // self.replays))
        return self.epochs


ARCH_OPTIONS = ("depth", "k", "norm", "dropout", "width", "noise", "input_noise")
_CONVERTERS = {
    "depth": whole, "k": whole, "dropout": number, "width": whole, "input_noise": number, "epochs": whole,
    "batch_size": whole, "eps": number, "steps": whole, "step_size": number, "replays": whole, "eps_warmup_epochs": whole, "free_box": boolean,
    "cert_warmup_epochs": whole, "cert_ramp_epochs": whole, "kappa_end": number, "lr": number, "weight_decay": number, "seed": whole,
    "eval_eps": number, "eval_steps": whole_list, "eval_step_size": number, "val_points": whole,
    "l2_eps": number, "eval_l2_eps": number, "adversarial_share": number, "milestones": whole_list, "gamma": number,
    "warmup_epochs": whole, "nd_beta": number, "nd_gamma": number, "svc": number, "svc_every": whole, "restore_best": boolean, "patience": whole, "diagnostics_points": whole,
    "dashboard_every": whole, "export_onnx": boolean, "replicas": whole,
}
FIELDS = tuple(f.name for f in dataclasses.fields(FitConfig))


def load_yaml_config(path):
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


def is_whole_number_field(key):
    """Whether FitConfig field `key` holds a whole number."""
    return _CONVERTERS.get(key) is whole


def convert_value(key, value):
    """One value for FitConfig field `key`, converted as a flag or YAML value would be."""
    if key in _CONVERTERS:
        return convert(key, value, _CONVERTERS[key])
    return None if value is None else (value if key in ("data_dir", "run_dir") else str(value))


def resolve_fit_config(flags, config_path=None):
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


def check_types(config):
    """A one-line error naming the field for a `FitConfig` value of the wrong type (library callers: the CLI and
    YAML values are converted first)."""
    expected = {whole: (int,), number: (int, float), boolean: (bool,), whole_list: (list, tuple)}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None:
            continue
        kind = _CONVERTERS.get(field.name)
        types = expected[kind] if kind else (str,)
        wrong = isinstance(value, bool) and bool not in types
        if wrong or not isinstance(value, types) or (kind is whole_list and not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)):
            what = {whole: "a whole number", number: "a number", boolean: "true or false",
                    whole_list: "a list of whole numbers"}.get(kind, "a string")
            raise KerobustError(f"FitConfig.{field.name} must be {what}, got {value!r} ({type(value).__name__}).")
        if kind is number and not math.isfinite(value):
            raise KerobustError(f"FitConfig.{field.name} must be a finite number, got {value!r}.")


def validate(config):
    """Checks types, names, numbers and ranges before any expensive work, without importing a framework (the names
    come from `kerobust.catalog`), so that a mistake is answered at once."""
    from kerobust.catalog import (
        ARCHITECTURES, CERTIFIED, DATASETS, JIT_SETTINGS, LR_SCHEDULES, MIXES, MODEL_NORMS, NOISE_GRANULARITIES,
        NORM_DECAY_NORMS, OPTIMIZERS, SVC_OPERATORS, THREAT_NORMS, TRAINING_METHODS,
    )

    check_types(config)
    for kind, value, valid in (
        ("architecture", config.arch, ARCHITECTURES), ("training method", config.train_method, TRAINING_METHODS),
        ("optimizer", config.optimizer, OPTIMIZERS), ("jit setting", config.jit, JIT_SETTINGS),
        ("threat norm", config.threat_norm, THREAT_NORMS), ("mix", config.mix, MIXES),
        ("learning-rate schedule", config.lr_schedule, LR_SCHEDULES), ("svc operator", config.svc_operator, SVC_OPERATORS),
        ("normalisation", config.norm, MODEL_NORMS), ("noise granularity", config.noise, NOISE_GRANULARITIES),
        ("norm decay norm", config.norm_decay, NORM_DECAY_NORMS),
    ):
        if value is not None and value not in valid:
            raise unknown_name(kind, value, valid)
    if not (config.data in DATASETS or config.data.startswith("npz:")):
        raise unknown_name("dataset", config.data, DATASETS)
    require(config.k >= 1, f"k must be >= 1, got {config.k}.")
    require(config.epochs >= 1, f"epochs must be >= 1, got {config.epochs}.")
    require(config.batch_size >= 1, f"batch size must be >= 1, got {config.batch_size}.")
    require(config.replays >= 1, f"replays must be >= 1, got {config.replays}.")
    require(config.eps_warmup_epochs >= 0, f"eps warm-up epochs must be >= 0, got {config.eps_warmup_epochs}.")
    require(config.eps_warmup_epochs <= config.fit_epochs, f"--eps-warmup-epochs {config.eps_warmup_epochs} is longer "
            f"than the run's {config.fit_epochs} passes (free training runs --epochs / --replays): eps would never "
            "reach its value.")
    for key, value in (("eps-warmup-epochs", config.eps_warmup_epochs), ("free-box", config.free_box)):
        require(not value or config.train_method == "free",
                f"--{key} is implemented for free training only (--train-method free), not {config.train_method!r}.")
    for key in ("cert_warmup_epochs", "cert_ramp_epochs", "kappa_end"):
        value = getattr(config, key)
        flag = "--" + key.replace("_", "-")
        require(value is None or config.train_method in CERTIFIED,
                f"{flag} is for certified training (--train-method {' / '.join(CERTIFIED)}), not {config.train_method!r}.")
        require(value is None or value >= 0, f"{flag} must be >= 0, got {value}.")
    require(config.kappa_end is None or config.kappa_end <= 1, f"--kappa-end must be in [0, 1], got {config.kappa_end}.")
    schedule = (config.cert_warmup_epochs or 0) + (config.cert_ramp_epochs or 0)
    require(schedule <= config.epochs, f"the certified schedule (--cert-warmup-epochs {config.cert_warmup_epochs or 0} "
            f"+ --cert-ramp-epochs {config.cert_ramp_epochs or 0}) is longer than the run's {config.epochs} epochs: eps "
            "would never reach its value.")
    require(config.train_method != "lipschitz-margin" or config.threat_norm == "l2",
            "lipschitz-margin training certifies l2 balls: pass --threat-norm l2 (an l-inf ball of radius eps lies in "
            "the l2 ball of radius eps sqrt(d)).")
    require(config.train_method not in CERTIFIED or config.adversarial_share == 1,
            "certified training mixes natural and verified losses by kappa (--kappa-end), not --adversarial-share.")
    require(config.lr > 0, f"learning rate must be > 0, got {config.lr}.")
    require(config.val_points >= 0, f"val points must be >= 0, got {config.val_points}.")
    require(config.dashboard_every >= 0, f"dashboard every must be >= 0 epochs (0: off), got {config.dashboard_every}.")
    from kerobust.distribution import check_distribution

    check_distribution(config.distribute, config.replicas)
    if config.replicas:
        check_even_batch(config.distribute, config.batch_size, config.replicas)
    if config.export_onnx:
        from kerobust.export.onnx import require_onnx_tools

        require_onnx_tools()
    require(0 <= config.seed <= SEED_LIMIT, f"seed must be in [0, {SEED_LIMIT}], got {config.seed}.")
    require(0 <= config.dropout < 1, f"dropout rate must be in [0, 1), got {config.dropout}.")
    require(config.depth >= 1, f"depth must be >= 1, got {config.depth}.")
    require(config.width is None or config.width >= 1, f"width must be >= 1, got {config.width}.")
    require(config.input_noise is None or config.input_noise >= 0, f"input noise must be >= 0, got {config.input_noise}.")
    require(not (config.train_method.startswith("mat-") and config.threat_norm != "linf"),
            "MAT trains on l-inf and l2 together: keep --threat-norm linf (--eps) and set the l2 radius with --l2-eps.")
    require(0 < config.adversarial_share <= 1, f"adversarial share must be in (0, 1], got {config.adversarial_share}.")
    require(config.patience is None or config.patience >= 1, f"patience must be >= 1, got {config.patience}.")
    require(config.gamma > 0, f"gamma must be > 0, got {config.gamma}.")
    require(config.warmup_epochs >= 0, f"warmup epochs must be >= 0, got {config.warmup_epochs}.")
    require(config.diagnostics_points >= 0, f"diagnostics points must be >= 0, got {config.diagnostics_points}.")
    require(not (config.val_points == 0 and (config.restore_best or config.patience)),
            "--restore-best and --patience need robust validation (--val-points > 0).")
    for key in ("eps", "eval_eps", "weight_decay", "l2_eps", "eval_l2_eps"):
        value = getattr(config, key)
        require(value is None or value >= 0, f"{key.replace('_', ' ')} must be >= 0, got {value}.")
    check_radii(config)
    for key in ("step_size", "eval_step_size"):
        value = getattr(config, key)
        require(value is None or value > 0, f"{key.replace('_', ' ')} must be > 0, got {value}.")
    require(config.steps is None or config.steps >= 1, f"steps must be >= 1, got {config.steps}.")
    require(config.nd_beta >= 0, f"norm decay beta must be finite and >= 0, got {config.nd_beta!r}.")
    require(0 <= config.nd_gamma < 1, f"norm decay gamma (momentum) must be in [0, 1), got {config.nd_gamma!r}.")
    require(config.svc is None or config.svc > 0, f"svc (the singular value limit) must be > 0, got {config.svc}.")
    require(config.svc_every >= 1, f"svc every must be >= 1 batch, got {config.svc_every}.")
    require(config.eval_steps is None or len(config.eval_steps) > 0, "eval steps must list at least one PGD step count.")
    require(not config.eval_steps or min(config.eval_steps) >= 1, f"eval steps must be >= 1, got {config.eval_steps}.")


def check_radii(config, input_size=None):
    """Refuses radii whose ball covers the whole input box (l2 ones once the dataset's `input_size` is known)."""
    from kerobust.box_radius import check_radius

    for key, norm in (("eps", config.threat_norm), ("eval_eps", config.threat_norm), ("l2_eps", "l2"),
                      ("eval_l2_eps", "l2")):
        check_radius(key.replace("_", " "), getattr(config, key), norm, input_size)


def check_even_batch(strategy, batch_size, replicas):
    """A one-line error unless each batch splits evenly over the replicas of `--distribute`."""
    require(replicas == 1 or batch_size % replicas == 0,
            f"--distribute {strategy} splits each batch evenly over {replicas} devices: --batch-size {batch_size} is "
            f"not a multiple of {replicas}.")


def fill_dataset_defaults(config, threat_model):
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


def architecture_options(config, explicit=None):
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


def default_run_dir(config):
    """`runs/<arch>-<depth>-<k>-<norm>_<data>_<method>` for wrn, `runs/<arch>_<data>_<method>` otherwise."""
    arch = f"{config.arch}-{config.depth}-{config.k}-{config.norm}" if config.arch == "wrn" else config.arch
    data = config.data.replace("npz:", "npz-").replace(os.sep, "_")
    return os.path.join("runs", f"{arch}_{data}_{config.train_method}")


def to_yaml(config):
    """The resolved config as YAML text (with the epochs actually passed to fit)."""
    payload = dataclasses.asdict(config)
    payload["fit_epochs"] = config.fit_epochs
    return yaml.safe_dump(payload, sort_keys=False)
