"""Liang & Huang (2021), "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness", Table 2: clean and robust
accuracy of CNNs trained with weight decay, singular value clipping, l1 and l-inf norm decay at four strengths each,
plus the models' mean layer norms (digits by default).

Every cell is one `kerobust fit` (natural training, SGD with momentum 0.9, the learning rate x 0.1 at 62.5 %, 75 % and
83 % of the epochs: the paper's 75 / 90 / 100 of 120) followed by the standard AutoAttack (`autoattack`: APGD-CE,
APGD-T, FAB-T, Square) at l-inf `--eval-eps`; each cell records the suite it ran (the checked-in cells, without the
record, predate FAB-T's joining it). Liang & Huang used eps = 1/255 on CIFAR-10 because every model had ~0 robust
accuracy at 4/255; on 8x8 digits the same role is played by a larger radius (default 0.05, where a natural basicnet
keeps 88 % and a ResNet-20 82.5 %).

Differences from the paper, on purpose:
* norm decay divides beta by the number of layers N and keeps a moving average of the subgradient (the paper's
  Algorithm 1; its reference code did neither);
* singular value clipping every `--svc-every` batches and at the end of every epoch, with the exact rescale that makes
  the top singular value at most c (`kerobust.constraints`);
* Keras's weight decay is decoupled (w -= lr * wd * w per step) where PyTorch's SGD weight_decay, used in the
  paper, adds wd * w to the gradient and so passes through momentum (about 10x stronger with momentum 0.9);
* columns other than "weight decay" train with no weight decay at all.

Finished cells are kept in `OUT/cells/*.json`; a rerun skips them, so an interrupted study resumes (an interrupted
fit resumes from its run folder's checkpoint). Writes `OUT/table2.md`, `OUT/table2.json` and `OUT/table2.png`; the
fits' run folders go to `--runs`.

    python -m apps.norm_regularisation_table [--archs basicnet,resnet20] [--epochs 30] [--eval-eps 0.05] [--out DIR]
"""

import json
import math
import os
import sys


from apps.study_options import names, positive, run_study, study_parser  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Regulariser columns of Table 2: (kind, label, strengths).
GROUPS = (
    ("weight_decay", "plain weight decay", (1e-2, 1e-3, 1e-4, 1e-5)),
    ("svc", "singular value clipping", (0.5, 1.0, 1.5, 2.0)),
    ("l1", "l1 norm decay", (1e-2, 1e-3, 1e-4, 1e-5)),
    ("linf", "l-inf norm decay", (1e-2, 1e-3, 1e-4, 1e-5)),
)


def columns():
    """`[(kind, strength)]`: the unregularised column, then every group's strengths in the paper's order."""
    return [("none", None)] + [(kind, value) for kind, _, values in GROUPS for value in values]


def fit_config(kind, value, args, run_dir):
    """The `FitConfig` of one cell."""
    from kerobust.experiment import FitConfig

    milestones = sorted({round(args.epochs * f) for f in (75 / 120, 90 / 120, 100 / 120)} - {0})
    config = FitConfig(
        arch=args.current_arch, data=args.data, train_method="natural", epochs=args.epochs, batch_size=args.batch_size,
        optimizer="sgd", lr=args.lr, lr_schedule="multistep", milestones=milestones, gamma=0.1, seed=args.seed,
        val_points=0, diagnostics_points=0, eval_eps=args.eval_eps, eval_steps=[10], run_dir=run_dir,
        weight_decay=value if kind == "weight_decay" else 0.0,
    )
    if kind == "svc":
        config.svc, config.svc_every = value, args.svc_every
    elif kind in ("l1", "linf"):
        config.norm_decay, config.nd_beta, config.nd_gamma = kind, value, args.nd_gamma
    return config


def run_cell(kind, value, args, dataset):
    """Trains and attacks one cell, or reads it back when an earlier run finished it."""
    import numpy as np

    from kerobust.atomic_files import write_json
    from kerobust.attacks.suite import autoattack
    from kerobust.evaluation import evaluate_robustness
    from kerobust.experiment import run
    from kerobust.norms import layer_norms

    name = f"{args.current_arch}_{kind}" + ("" if value is None else f"_{value:g}")
    cell_path = os.path.join(args.out, "cells", name + ".json")
    current = settings(args)
    if os.path.exists(cell_path):
        with open(cell_path) as file:
            cell = json.load(file)
        if cell.get("settings") != current:
            raise SystemExit(f"{cell_path} was computed with other settings ({cell.get('settings')}); "
                             "pass another --out.")
        return cell
    run_dir = os.path.join(args.runs, name)
    model = run(fit_config(kind, value, args, run_dir)).classifier
    x, y = dataset.x_test[: args.points], dataset.y_test[: args.points]
    suite = autoattack(args.eval_eps, square_queries=args.square_queries)
    result = evaluate_robustness(model, x, y, [suite], seed=args.seed)
    rows = [r for r in layer_norms(model) if r.kind in ("conv", "dense")]
    cell = {
        "arch": args.current_arch, "kind": kind, "strength": value, "clean": 100 * result.clean_top1,
        "robust": 100 * result.attacks[0].top1, "eps": args.eval_eps, "points": len(x),
        "mean_l1": float(np.mean([r.l1 for r in rows])), "mean_linf": float(np.mean([r.linf for r in rows])),
        "run_dir": run_dir, "settings": current, "autoattack": suite.describe(),
    }
    write_json(cell_path, cell)
    return cell


def settings(args):
    """The options a cell's numbers depend on (a finished cell is reused only under the same ones)."""
    keys = ("data", "epochs", "batch_size", "lr", "eval_eps", "points", "square_queries", "svc_every", "nd_gamma",
            "seed")
    values = {key: getattr(args, key) for key in keys}
    values["eps"] = values.pop("eval_eps")  # the key the checked-in cells were written with
    return {key: values[key] for key in ("data", "epochs", "batch_size", "lr", "eps", "points", "square_queries",
                                         "svc_every", "nd_gamma", "seed")}


def strength_label(kind, value):
    if value is None:
        return "-"
    return f"{value:g}" if kind == "svc" else f"1e{round(math.log10(value))}"


def markdown_table(cells, archs):
    """Table 2's layout: a group header row, a strengths row, then Clean / Robust (and the mean norms) per model."""
    from kerobust.evaluation.report import markdown

    order = columns()
    groups = ["", "", "none"] + [label if i == 0 else "" for kind, label, values in GROUPS for i in range(len(values))]
    strengths = ["model", "", "-"] + [strength_label(kind, v) for kind, v in order[1:]]
    rows = [strengths]
    metrics = (("clean", "Clean", "{:.1f}"), ("robust", "Robust", "{:.1f}"),
               ("mean_l1", "mean l1 norm", "{:.2f}"), ("mean_linf", "mean l-inf norm", "{:.2f}"))
    for arch in archs:
        by_column = {(c["kind"], c["strength"]): c for c in cells if c["arch"] == arch}
        for i, (key, label, fmt) in enumerate(metrics):
            rows.append([arch if i == 0 else "", label] + [
                fmt.format(by_column[col][key]) if col in by_column else "n/a" for col in order
            ])
    return markdown(groups, rows)


def plot(cells, archs, path):
    """Clean and robust accuracy against strength, one panel per regulariser, a colour per model, with 95 % Wilson
    error bars."""
    from apps.significance import error_bars
    from kerobust.figures import png_figure

    first = cells[0]
    robust = f"robust: AutoAttack at l-inf {first['eps']:g}"
    with png_figure(path, 1, len(GROUPS), figsize=(4 * len(GROUPS), 3.9), sharey=True) as (figure, axes):
        colours = [f"C{i}" for i in range(10)]  # matplotlib's default cycle
        for axis, (kind, label, values) in zip(axes, GROUPS):
            for colour, arch in zip(colours, archs):
                by_value = {c["strength"]: c for c in cells if c["arch"] == arch and c["kind"] == kind}
                none = next((c for c in cells if c["arch"] == arch and c["kind"] == "none"), None)
                xs = [v for v in values if v in by_value]
                for key, style in (("clean", "-"), ("robust", "--")):
                    ys = [by_value[v][key] for v in xs]
                    axis.errorbar(range(len(xs)), ys, yerr=error_bars(ys, [by_value[v]["points"] for v in xs]),
                                  linestyle=style, marker="o", markersize=4, capsize=2, color=colour,
                                  label=f"{arch} {'clean' if key == 'clean' else robust}")
                    if none is not None:
                        axis.axhline(none[key], color=colour, linestyle=style, alpha=0.3)
                axis.set_xticks(range(len(xs)), [strength_label(kind, v) for v in xs])
            axis.set_title(label)
            axis.set_xlabel({"svc": "clip value c (largest singular value)", "weight_decay": "weight decay"}.get(
                kind, "norm decay strength beta"))
            axis.set_ylim(0, 101)
            axis.grid(axis="y", alpha=0.3)
        axes[0].set_ylabel("top-1 test accuracy (%)\n(faint: no regulariser)")
        axes[-1].legend(fontsize=7, loc="lower right")
        figure.suptitle(f"Clean and robust (AutoAttack, l-inf eps {first['eps']:g}) accuracy on {first['points']} test "
                        "points; error bars: 95 % Wilson score intervals", fontsize=10)


def build_parser():
    parser = study_parser(__doc__)
    parser.add_argument("--archs", default="basicnet,resnet20", help="comma-separated kerobust architectures")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=positive, default=30)
    parser.add_argument("--batch-size", type=positive, default=128)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--eval-eps", type=float, default=0.05, help="l-inf radius of the autoattack evaluation")
    parser.add_argument("--points", type=positive, default=360, help="test points attacked")
    parser.add_argument("--square-queries", type=positive, default=1000)
    parser.add_argument("--svc-every", type=positive, default=100, help="batches between clips (the reference: 100)")
    parser.add_argument("--nd-gamma", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated kinds to run: none,weight_decay,svc,l1,linf")
    parser.add_argument("--out", default="apps/results/liang2021_table2", help="tables, plot and finished cells")
    parser.add_argument("--runs", default="runs/liang2021_table2", help="run folders of the fits (models, logs)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    from kerobust.data import load_dataset
    from kerobust.evaluation.report import write_study

    from kerobust.catalog import ARCHITECTURES

    archs = names(parser, "--archs", args.archs, ARCHITECTURES)
    kinds = tuple(dict.fromkeys(kind for kind, _ in columns()))
    wanted = None if args.only is None else set(names(parser, "--only", args.only, kinds))
    dataset = load_dataset(args.data)
    todo = [(arch, kind, value) for arch in archs for kind, value in columns() if wanted is None or kind in wanted]
    cells = []
    for i, (arch, kind, value) in enumerate(todo):
        print(f"[{i + 1}/{len(todo)}] {arch}: {kind} {'' if value is None else f'{value:g}'}", flush=True)
        args.current_arch = arch
        cells.append(run_cell(kind, value, args, dataset))
    write_study(args.out, "table2", markdown_table(cells, archs), cells, lambda path: plot(cells, archs, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
