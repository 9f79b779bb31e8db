"""Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Figure 2: the distribution
of the layers' norms of VGG-11, ResNet-18, SENet-18 and RegNetX-200MF trained naturally and adversarially (PGD-AT,
Madry et al. 2018; ALP, Kannan et al. 2018; TRADES, Zhang et al. 2019), with each training's clean and robust
accuracy beside it. The paper's finding: adversarially
robust networks have layer norms comparable to or larger than their natural counterparts, so large norms do not hurt
robustness.

Each cell is one library fit run (`kerobust.experiment.run`, AdamW; PGD-10 at the dataset's l-inf radius for PGD-AT
and ALP, PGD-10 on the KL term for TRADES; the papers' weights: ALP 0.5, TRADES beta 6);
its layers' exact l1 and l-inf norms and l2 bounds come from `kerobust.norms.layer_norms` (what `kerobust norms`
prints), and the densities are drawn by `kerobust.norms.distribution_plot` (what `kerobust norms --plot` draws),
one PNG per architecture (`figure2_<arch>.png`: l1, l-inf and l2 panels) plus `figure2.png`, the paper's layout:
one l-inf panel per architecture. Robust accuracy: PGD-20 at the dataset's radius on `digits` (AutoAttack on the
PGD-trained 11M-parameter networks would take longer than the whole study), the AutoAttack suite on `cifar` as in
the paper.

Profiles: `digits` (default; 8x8 digits, l-inf 0.2, 10 epochs each), `cifar` (CIFAR-10 from tfds, 8/255, 120
epochs, SGD lr 0.1 with x0.1 at 75, 90 and 100, as in the paper). Finished cells are kept in `OUT/cells/`.

    python -m apps.norm_distributions [--profile digits|cifar] [--quick] [--archs vgg11,resnet18]
                                      [--trainings natural,pgd,alp,trades]
"""

import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.study_options import add_study_arguments, chosen, load_test_subset, run_study, study_parser  # noqa: E402

ARCHS = ("vgg11", "resnet18", "senet18", "regnetx_200mf")
TITLES = {"vgg11": "VGG-11", "resnet18": "ResNet-18", "senet18": "SENet-18", "regnetx_200mf": "RegNetX-200MF"}
TRAININGS = ("natural", "pgd", "alp", "trades")
LABELS = {"natural": "plain", "pgd": "PGD-AT", "alp": "ALP", "trades": "TRADES"}


@dataclasses.dataclass(frozen=True)
class Profile:
    data: str
    epochs: int
    optimizer: str = "adamw"
    lr: float = 1e-3
    milestones: tuple = ()
    robust_attack: str = "pgd-20"
    batch_size: int = 128
    points: int = 0
    seed: int = 0


PROFILES = {
    "digits": Profile(data="digits", epochs=10),
    "cifar": Profile(data="cifar10", epochs=120, optimizer="sgd", lr=0.1, milestones=(75, 90, 100),
                     robust_attack="autoattack"),
    "quick": Profile(data="digits", epochs=1, points=32),
}


def fit_config(profile, arch, training, run_dir):
    from kerobust.experiment import FitConfig

    return FitConfig(arch=arch, data=profile.data, train_method=training, epochs=profile.epochs,
                     batch_size=profile.batch_size, optimizer=profile.optimizer, lr=profile.lr,
                     lr_schedule="multistep" if profile.milestones else "constant",
                     milestones=list(profile.milestones) or None, eval_steps=[20], val_points=0,
                     diagnostics_points=0, dashboard_every=0, export=False, seed=profile.seed, run_dir=run_dir)


def measure(profile, arch, training, run_dir, dataset):
    """Trains one network and returns its accuracies and per-layer norms (JSON-ready)."""
    from kerobust.evaluation import evaluate_robustness
    from kerobust.evaluation.attack_specs import AttackOptions, build_attacks, parse_attack_list
    from kerobust.experiment import run
    from kerobust.norms import layer_norms

    result = run(fit_config(profile, arch, training, run_dir), dataset=dataset)
    model, x, y = result.classifier, dataset.x_test, dataset.y_test
    eps = dataset.threat_model.eps
    attacks = build_attacks(parse_attack_list(profile.robust_attack), eps, AttackOptions(
        step_size=dataset.threat_model.evaluation_step(eps, "linf")))
    evaluation = evaluate_robustness(model, x, y, attacks, seed=profile.seed, progress=False)
    return {"arch": arch, "training": training, "params": int(model.count_params()), "points": len(x),
            "clean": 100 * evaluation.clean_top1, "robust": 100 * evaluation.attacks[-1].top1, "eps": eps,
            "attack": profile.robust_attack, "train_seconds": result.train_seconds,
            "norms": [dataclasses.asdict(row) for row in layer_norms(model)]}


def _summary(cell, key):
    import numpy as np

    values = np.array([row[key] for row in cell["norms"] if row[key] is not None])
    return {"layers": len(values), "mean": float(values.mean()), "median": float(np.median(values)),
            "max": float(values.max())}


def initial_norms(arch, dataset, seed):
    """The per-layer norms (as stored in a cell) of `arch` as built with the fit's seed, before any training: both
    trainings of an architecture start from these weights."""
    import keras

    from kerobust.models import build_model
    from kerobust.norms import layer_norms

    keras.utils.set_random_seed(seed)
    model = build_model(arch, dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std)
    return {"norms": [dataclasses.asdict(row) for row in layer_norms(model)]}


def markdown_report(cells, profile, initial):
    from kerobust.evaluation.report import markdown

    rows = []
    for cell in cells:
        linf, l1 = _summary(cell, "linf"), _summary(cell, "l1")
        start = _summary(initial[cell["arch"]], "linf")
        rows.append([TITLES[cell["arch"]], LABELS[cell["training"]], f"{cell['clean']:.1f}", f"{cell['robust']:.1f}",
                     str(linf["layers"]), f"{linf['median']:.3g}", f"{linf['mean']:.3g}", f"{linf['max']:.3g}",
                     f"{l1['median']:.3g}", f"{l1['mean']:.3g}", f"{start['median']:.3g} / {start['mean']:.3g}"])
    verdicts = []
    for arch in dict.fromkeys(cell["arch"] for cell in cells):
        trained = {cell["training"]: cell for cell in cells if cell["arch"] == arch}
        if "natural" in trained:
            plain = _summary(trained["natural"], "linf")["mean"]
            ratios = [f"{LABELS[t]} {_summary(trained[t], 'linf')['mean'] / plain:.2f}x"
                      for t in TRAININGS[1:] if t in trained]
            verdicts.append(f"{TITLES[arch]}: {', '.join(ratios)}")
    first = cells[0]
    return "\n".join([
        "# Liang & Huang (2021), Figure 2: layer norms of naturally and adversarially trained networks", "",
        f"{profile.data}, {first['points']} test points; robust accuracy under {first['attack']} at l-inf "
        f"{first['eps']:.4g}; PGD-AT and ALP train with PGD-10 at the same radius, TRADES with PGD-10 on its KL "
        f"term; {profile.epochs} epochs each. Norms: "
        "each conv, dense and batch-norm layer's exact operator norm (kerobust.norms.layer_norms).", "",
        markdown(["model", "training", "clean %", "robust %", "layers", "median l-inf", "mean l-inf", "max l-inf",
                  "median l1", "mean l1", "l-inf at init (median / mean)"], rows), "",
        "Mean l-inf layer norm of each adversarial training over plain training: " + ("; ".join(verdicts) or "-")
        + ". Every training of an architecture starts from the same weights (the fit's seed), whose norms are in "
        "the last column.",
        "Densities: figure2.png (l-inf, the paper's layout) and figure2_<arch>.png (l1, l-inf, l2)."])


def accuracy_label(cell, arch=False):
    """A training's legend entry: which training, its clean accuracy and its robust accuracy under which attack."""
    name = f"{TITLES[cell['arch']]} {LABELS[cell['training']]}" if arch else LABELS[cell["training"]]
    return (f"{name}: clean {cell['clean']:.1f} %,\nrobust {cell['robust']:.1f} % ({cell['attack'].upper()} at l-inf "
            f"{cell['eps']:.4g})")


def plot_papers_layout(cells, path):
    """One l-inf panel per architecture, a density per training (the paper's Figure 2)."""
    import numpy as np
    from scipy.stats import gaussian_kde

    from kerobust.figures import png_figure

    archs = list(dict.fromkeys(cell["arch"] for cell in cells))
    with png_figure(path, 1, len(archs), figsize=(3.6 * len(archs), 4.6), squeeze=False) as (figure, axes):
        for axis, arch in zip(axes[0], archs):
            for i, cell in enumerate(c for c in cells if c["arch"] == arch):
                values = np.log10([row["linf"] for row in cell["norms"] if row["linf"]])
                label = accuracy_label(cell)
                if np.ptp(values) > 0:
                    grid = np.linspace(values.min() - 0.5, values.max() + 0.5, 200)
                    axis.plot(grid, gaussian_kde(values)(grid), color=f"C{i}", label=label)
                axis.plot(values, np.zeros_like(values), "|", color=f"C{i}", markersize=10)
            axis.set_title(TITLES[arch])
            axis.set_xlabel("log10(l-inf norm)")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=7, title=f"top-1 test accuracy, {cells[0]['points']} points", title_fontsize=7,
                        loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below the axis: the curves fill it
        axes[0][0].set_ylabel("density over layers")
        figure.suptitle("Layers' l-inf operator norms (a density over each network's conv, dense and batch-norm "
                        "layers; ticks: the layers)", fontsize=10)


def main(argv=None):
    parser = study_parser(__doc__)
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma list of " + ", ".join(ARCHS))
    parser.add_argument("--trainings", default=",".join(TRAININGS), help="comma list of " + ", ".join(TRAININGS))
    add_study_arguments(parser, PROFILES, "default apps/results/liang2021_figure2 (+ _cifar or _quick)",
                        "run folders (default runs/liang2021_figure2, suffixed likewise)")
    args = parser.parse_args(argv)
    archs = [a for a in args.archs.split(",") if a]
    if not archs or any(a not in ARCHS for a in archs):
        parser.error(f"--archs must list some of {', '.join(ARCHS)}")
    trainings = [t for t in args.trainings.split(",") if t]
    if not trainings or any(t not in TRAININGS for t in trainings):
        parser.error(f"--trainings must list some of {', '.join(TRAININGS)}")
    profile, suffix = chosen(args, PROFILES)
    out = args.out or f"apps/results/liang2021_figure2{suffix}"
    runs = args.runs or f"runs/liang2021_figure2{suffix}"

    from kerobust.errors import KerobustError
    from kerobust.evaluation.report import write_study
    from kerobust.experiment.study_cells import cached_cell
    from kerobust.norms.distribution_plot import plot_norm_distributions
    from kerobust.norms.model_report import LayerNorms

    try:
        dataset = load_test_subset(profile.data, args.data_dir, profile.points)
        cells = []
        for i, (arch, training) in enumerate((a, t) for a in archs for t in trainings):
            print(f"[{i + 1}/{len(archs) * len(trainings)}] {TITLES[arch]}, {LABELS[training]}", flush=True)
            name = f"{arch}_{training}"
            cells.append(cached_cell(os.path.join(out, "cells", f"{name}.json"), dataclasses.asdict(profile),
                                     lambda: measure(profile, arch, training, os.path.join(runs, name), dataset)))
    except KerobustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for arch in archs:
        plot_norm_distributions({accuracy_label(c, arch=True): [LayerNorms(**row) for row in c["norms"]]
                                 for c in cells if c["arch"] == arch},
                                os.path.join(out, f"figure2_{arch}.png"))
    summary = [{k: v for k, v in cell.items() if k != "norms"} for cell in cells]  # per-layer norms stay in cells
    initial = {arch: initial_norms(arch, dataset, profile.seed) for arch in archs}
    write_study(out, "figure2", markdown_report(cells, profile, initial), summary,
                lambda path: plot_papers_layout(cells, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
