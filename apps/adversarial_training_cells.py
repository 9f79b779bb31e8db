"""The cells of the studies of Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification"
(the BIPARO report): one trained network each, scored in the report's four rows (natural examples, l-inf PGD, l2 PGD,
l-inf FGSM), and for randomised networks the same attacks with expectation over transformation (EOT) beside them.

A cell is a `Cell` (architecture and training) run under a `Profile` (dataset, radii, schedule). Cells are shared by
the tables that use the same network, as in the report (its Tables 3, 4 and 5 share the MAT-Rand ResNets, Tables 2
and 6 the PGD-trained wide ResNet-18): each is trained once, kept under `OUT/cells/NAME.json` and read back.
"""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class Profile:
    """The settings every cell of a profile shares; a cell's numbers depend on all of them."""

    data: str
    eps: float  # l-inf radius: training, attacks, and the fixed attack radius of Figure 1
    l2_eps: float  # l2 radius: l2 PGD training and attack, MAT's l2 half
    train_eps: tuple  # Figure 1's training radii
    basic_epochs: int  # BasicNet tables: the report's 40 epochs, lr x0.1 at 20 and 30
    basic_milestones: tuple
    deep_epochs: int  # ResNet / VGG tables: the report's 50 epochs, lr x0.1 at 30 and 40
    deep_milestones: tuple
    optimizer: str
    lr: float
    resnet18_width: int  # the "wide ResNet-18" (64: the report's 11M parameters)
    wider_width: int  # Table 6's wider ResNet-18 (80: 17.5M parameters, the report's 17M)
    basicnet_width: int = 32
    input_noise: float = None  # Gaussian noise std (pixels); None: eps, "the same value" as the attack radius
    adversarial_share: float = 0.95  # Table 6: 95 % adversarial batches, 5 % natural
    patience: int = None  # Table 6's early stopping: None trains the whole schedule and keeps the best epoch
    eval_steps: int = 20
    eot_samples: int = 10
    batch_size: int = 128
    points: int = 0  # test points (0: the whole test split)
    seed: int = 0

    @property
    def noise(self):
        return self.eps if self.input_noise is None else self.input_noise


PROFILES = {
    "digits": Profile(data="digits", eps=0.2, l2_eps=0.5, train_eps=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
                      basic_epochs=40, basic_milestones=(20, 30), deep_epochs=50, deep_milestones=(30, 40),
                      optimizer="adamw", lr=1e-3, resnet18_width=16, wider_width=20),
    "cifar": Profile(data="cifar10", eps=8 / 255, l2_eps=0.5, train_eps=(0.0, 2 / 255, 4 / 255, 6 / 255, 8 / 255,
                                                                           10 / 255, 12 / 255),
                     basic_epochs=40, basic_milestones=(20, 30), deep_epochs=50, deep_milestones=(30, 40),
                     optimizer="sgd", lr=0.01, resnet18_width=64, wider_width=80),
    "quick": Profile(data="digits", eps=0.2, l2_eps=0.5, train_eps=(0.1, 0.2), basic_epochs=2,
                     basic_milestones=(1,), deep_epochs=1, deep_milestones=(1,), optimizer="adamw", lr=1e-3,
                     resnet18_width=4, wider_width=5, basicnet_width=4, eval_steps=3, eot_samples=2, points=40),
}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One network and its training.

    Args:
        arch: `basicnet`, `resnet20`, `resnet18` (with `width`), `vgg11` or `noisenet20`.
        train_method: `pgd`, `fgsm` or `mat-rand` (kerobust's training methods).
        threat_norm: the training attack's norm.
        eps: the training radius (None: the profile's radius in `threat_norm`).
        width: resnet18's width (None: the architecture's own).
        noise: Gaussian input noise at training and inference (the BIPARO report, section 3.2.1).
        mixed: train on the profile's share of adversarial batches, the rest natural (section 3.3).
        early_stopping: keep the epoch of best robust validation accuracy (Rice et al. 2020), stopping after the
            profile's `patience` epochs without improvement when it sets one.
        curves: record clean and PGD accuracy on the test split after every epoch (learning curves); cells that
            stop early validate on the validation split instead.
    """

    arch: str
    train_method: str = "pgd"
    threat_norm: str = "linf"
    eps: float = None
    width: int = None
    noise: bool = False
    mixed: bool = False
    early_stopping: bool = False
    curves: bool = False
    deep: bool = True  # the ResNet / VGG schedule (False: BasicNet's)

    @property
    def name(self):
        parts = [self.arch + (f"w{self.width}" if self.width else ""), self.train_method, self.threat_norm]
        if self.eps is not None:
            parts.append(f"eps{self.eps:.4g}")
        parts += [flag for flag in ("noise", "mixed", "early_stopping") if getattr(self, flag)]
        return "_".join(parts)


def basicnet(train_method="pgd", threat_norm="linf", eps=None, noise=False):
    """A BasicNet cell on the BasicNet schedule, with learning curves (they are cheap for it)."""
    return Cell("basicnet", train_method, threat_norm, eps=eps, noise=noise, curves=True, deep=False)


def fit_config(profile, cell, run_dir):
    """The `FitConfig` of one cell."""
    from kerobust.experiment import FitConfig

    epochs = profile.deep_epochs if cell.deep else profile.basic_epochs
    milestones = profile.deep_milestones if cell.deep else profile.basic_milestones
    eps = cell.eps if cell.eps is not None else (profile.l2_eps if cell.threat_norm == "l2" else profile.eps)
    width = profile.basicnet_width if cell.arch == "basicnet" else cell.width
    return FitConfig(
        arch=cell.arch, width=width, input_noise=profile.noise if cell.noise else None, data=profile.data,
        epochs=epochs, batch_size=profile.batch_size, train_method="natural" if eps == 0 else cell.train_method,
        threat_norm=cell.threat_norm, eps=eps, l2_eps=profile.l2_eps,
        adversarial_share=profile.adversarial_share if cell.mixed else 1.0, optimizer=profile.optimizer,
        lr=profile.lr, lr_schedule="multistep", milestones=list(milestones), gamma=0.1,
        eval_eps=profile.l2_eps if cell.threat_norm == "l2" else profile.eps, eval_steps=[profile.eval_steps],
        restore_best=cell.early_stopping,
        patience=profile.patience if cell.early_stopping else None,
        val_points=0 if not (cell.curves or cell.early_stopping) else 100_000, diagnostics_points=0,
        dashboard_every=0, seed=profile.seed, run_dir=run_dir,
    )


def attacks(profile, dataset, eot_samples=1):
    """The report's three attacks: l-inf PGD, l2 PGD, l-inf FGSM (its row order), at the profile's radii."""
    from kerobust.attacks import FGSM, PGD

    step = dataset.threat_model.evaluation_step(profile.eps, "linf")
    return [PGD(eps=profile.eps, steps=profile.eval_steps, step_size=step, eot_samples=eot_samples),
            PGD(eps=profile.l2_eps, norm="l2", steps=profile.eval_steps, eot_samples=eot_samples),
            FGSM(eps=profile.eps, eot_samples=eot_samples)]


ROWS = ("natural", "linf_pgd", "l2_pgd", "linf_fgsm")
ROW_TITLES = {"natural": "Natural examples", "linf_pgd": "ℓ∞ PGD attack", "l2_pgd": "ℓ2 PGD attack",
              "linf_fgsm": "ℓ∞ FGSM attack"}


def score(model, x, y, attack_list, seed):
    """{row: top-1 accuracy in %} for the natural examples and each of the report's attacks."""
    from kerobust.evaluation import evaluate_robustness

    result = evaluate_robustness(model, x, y, attack_list, seed=seed, progress=False)
    return dict(zip(ROWS, [100 * result.clean_top1] + [100 * a.top1 for a in result.attacks]))


def run_cell(profile, cell, out, runs, dataset):
    """Trains and scores one cell, or reads it back (`kerobust.experiment.study_cells`)."""
    from kerobust.experiment.study_cells import cached_cell

    path = os.path.join(out, "cells", cell.name + ".json")
    return cached_cell(path, _as_stored(path, cell_settings(profile, cell)),
                       lambda: _train_and_score(profile, cell, os.path.join(runs, cell.name), dataset))


def _as_stored(path, settings):
    """`settings`, less the fit options that the cell stored at `path` predates and that are at `FitConfig`'s
    defaults: an option kerobust gained after the cell was trained, left at its default, trains and scores the same
    network, so it does not make the finished cell look computed with other settings."""
    import json

    from kerobust.experiment import FitConfig
    from kerobust.experiment.study_cells import read_cell

    if not os.path.exists(path):
        return settings
    stored = read_cell(path).get("settings", {}).get("fit", {})
    defaults = {field.name: json.loads(json.dumps(field.default)) for field in dataclasses.fields(FitConfig)
                if field.default is not dataclasses.MISSING}
    fit = json.loads(json.dumps(settings["fit"]))
    return dict(settings, fit={key: value for key, value in fit.items()
                               if key in stored or key not in defaults or value != defaults[key]})


def cell_settings(profile, cell):
    """What a cell's numbers depend on: its fit configuration and the evaluation's settings (not the profile's
    settings of other cells, so a change to the ResNet schedule keeps the BasicNet cells)."""
    fit = dataclasses.asdict(fit_config(profile, cell, None))
    fit.pop("run_dir")
    evaluation = {key: getattr(profile, key) for key in ("eps", "l2_eps", "eval_steps", "eot_samples", "points",
                                                         "seed")}
    return {"cell": dataclasses.asdict(cell), "fit": fit, "evaluation": evaluation}


def _train_and_score(profile, cell, run_dir, dataset):
    from kerobust.experiment import run
    from kerobust.layers.noise_injection import random_layers

    fit_dataset = dataset
    if cell.curves and not cell.early_stopping:  # per-epoch accuracy on the test split: the learning curves
        fit_dataset = dataclasses.replace(dataset, x_val=dataset.x_test, y_val=dataset.y_test)
    result = run(fit_config(profile, cell, run_dir), dataset=fit_dataset)
    model, x, y = result.classifier, dataset.x_test, dataset.y_test
    randomised = bool(random_layers(model))
    history = result.metrics["history"]
    scores = {"plain": score(model, x, y, attacks(profile, dataset), profile.seed)}
    if randomised:
        scores[f"eot-{profile.eot_samples}"] = score(model, x, y, attacks(profile, dataset, profile.eot_samples),
                                                      profile.seed)
    return {
        "name": cell.name, "model": model.name, "params": int(model.count_params()), "randomised": randomised,
        "points": len(x), "scores": scores, "train_seconds": result.train_seconds,
        "epochs_run": len(history.get("loss", [])), "best_epoch": result.best_epoch,
        "curves": {key: [100 * v for v in history[key]] for key in ("accuracy", "val_clean_accuracy",
                                                                     "val_robust_accuracy") if key in history},
        "curves_on": "test" if cell.curves and not cell.early_stopping else "validation" if cell.early_stopping
        else None, "run_dir": result.run_dir,
    }
