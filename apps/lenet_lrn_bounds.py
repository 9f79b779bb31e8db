"""Peck (2017), "Robustness of Classifiers to Adversarial Perturbations" (MSc thesis, Ghent University), Table 5.3
(the summary's section 6.1 and Table 2): LeNet-5 and its LRN variants, with their FGS eps statistics, and beside them
the thesis-mode and sound-mode bounds, the smallest attack perturbations and the violations.
`--archs` takes any registered architectures, as `arch` or `arch:norm` (for example `resnet20:bn+convnorm`); thesis
mode covers chains of layers only, so residual networks show "n/a" there.

Each model trains with Adam (lr 1e-3, batch 64, as the thesis's Caffe solver) for `--epochs` epochs on digits by
default, then on the test split: accuracy; the FGS line search's flipping eps (min, max, mean, median, std, rate: the
share flipped with eps <= `--upper`); the mean thesis and sound bounds and the mean smallest perturbation found by
FGS and PGD-l2; violations per mode (thesis-mode violations are expected of its flawed rules, docs/bounds.md
section 8; a sound-mode violation would be a bug). Writes `OUT/table.md`, `OUT/table.json`, `OUT/bounds.png`;
`--report-only` rewrites the markdown and PNG from `OUT/table.json` without training.

    python -m apps.lenet_lrn_bounds [--data digits] [--epochs 30] [--out apps/results/peck2017_lenet_lrn]
                                    [--report-only]
"""

import os
import sys


from apps.study_options import names, positive, run_study, stored_rows, study_parser  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ARCHS = ("lenet5", "lenet5_lrn1", "lenet5_lrn2", "lenet5_lrn3")


def study(arch, dataset, args):
    import keras
    import numpy as np

    from kerobust.bounds import BoundEvaluator
    from kerobust.bounds.lipschitz.attack_check import fgs_line_search, pgd_l2_search, predictions, violations
    from kerobust.models import build_model

    from kerobust.errors import KerobustError

    keras.utils.set_random_seed(args.seed)
    name, _, norm = arch.partition(":")
    options = {"norm": norm} if norm else {}
    model = build_model(name, dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset.x_train, dataset.y_train, batch_size=64, epochs=args.epochs, verbose=0)
    x, y = dataset.x_test[:args.points], dataset.y_test[:args.points]
    fgs_norms, eps = fgs_line_search(model, x, upper=args.upper, return_eps=True)
    found = np.minimum(fgs_norms, pgd_l2_search(model, x))
    flipped = eps[np.isfinite(eps)]
    if not len(flipped):
        raise SystemExit(f"{arch}: FGS flipped no point with eps <= {args.upper}; raise --upper.")
    row = {"arch": arch, "accuracy": float(np.mean(predictions(model, x) == y)), "rate": len(flipped) / len(eps),
           "eps_min": float(flipped.min()), "eps_max": float(flipped.max()), "eps_mean": float(flipped.mean()),
           "eps_median": float(np.median(flipped)), "eps_std": float(flipped.std()),
           "found_mean": float(found[np.isfinite(found)].mean())}
    for mode in ("thesis", "sound"):
        try:
            bounds = BoundEvaluator(model, mode)(x)
        except KerobustError:  # thesis mode refuses merging branches
            row[f"{mode}_mean"], row[f"{mode}_violations"] = None, None
            continue
        row[f"{mode}_mean"] = float(bounds.mean())
        row[f"{mode}_violations"] = int(len(violations(bounds, found)))
    return row


def _cell(value, spec):
    return "n/a" if value is None else format(value, spec)


def table(rows):
    from kerobust.evaluation.report import markdown

    header = ["Network", "Accuracy", "Min", "Max", "Mean", "Median", "Std", "Rate", "thesis bound", "sound bound",
              "smallest attack", "thesis violations", "sound violations"]
    lines = [[r["arch"], f"{100 * r['accuracy']:.2f}%", f"{r['eps_min']:.5f}", f"{r['eps_max']:.5f}",
              f"{r['eps_mean']:.5f}", f"{r['eps_median']:.5f}", f"{r['eps_std']:.5f}", f"{100 * r['rate']:.2f}%",
              _cell(r["thesis_mean"], ".3g"), _cell(r["sound_mean"], ".3g"), f"{r['found_mean']:.3g}",
              _cell(r["thesis_violations"], "d"), _cell(r["sound_violations"], "d")] for r in rows]
    return markdown(header, lines)


def plot(rows, path, data="digits"):
    from kerobust.figures import png_figure

    with png_figure(path, figsize=(7.5, 4.6)) as (figure, axis):
        names = [r["arch"] for r in rows]
        for offset, (key, label) in enumerate((
                ("thesis_mean", "thesis-mode lower bound"), ("sound_mean", "sound-mode lower bound"),
                ("found_mean", "smallest perturbation found (FGS or PGD-l2)"))):
            heights = [r[key] if r[key] is not None else float("nan") for r in rows]
            axis.bar([i + (offset - 1) * 0.27 for i in range(len(rows))], heights, 0.27, label=label)
        axis.set_yscale("log")
        axis.set_xticks(range(len(rows)), names, rotation=20, fontsize=8)
        axis.set_ylabel("mean l2 norm of the perturbation\n([0, 1] pixels, log scale)")
        axis.set_title(f"Smallest adversarial l2 perturbation ({data}, this run): lower bounds vs attacks\n"
                       "(means over the test points; no thesis bar: thesis mode cannot bound that network)", fontsize=9)
        axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)  # below: bars reach the top


def main(argv=None):
    parser = study_parser(__doc__)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma-separated arch or arch:norm")
    parser.add_argument("--epochs", type=positive, default=30)
    parser.add_argument("--upper", type=float, default=1.0, help="FGS search limit on eps (pixels in [0, 1])")
    parser.add_argument("--points", type=positive, default=None, help="first N test points (default: the whole split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="apps/results/peck2017_lenet_lrn")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rewrite the markdown and PNG from OUT/table.json")
    args = parser.parse_args(argv)

    from kerobust.data import load_dataset
    from kerobust.evaluation.report import write_study
    from kerobust.progress import progress_bar

    if args.report_only:
        rows = stored_rows(os.path.join(args.out, "table.json"))
        if rows is None:
            return 2
        write_study(args.out, "table", table(rows), rows, lambda path: plot(rows, path, args.data),
                    figure="bounds.png")
        return 0

    dataset = load_dataset(args.data)
    from kerobust.catalog import ARCHITECTURES, MODEL_NORMS

    archs = [a for a in args.archs.split(",") if a]
    names(parser, "--archs", ",".join(a.partition(":")[0] for a in archs), ARCHITECTURES)
    names(parser, "--archs (after ':')", ",".join(a.partition(":")[2] for a in archs if ":" in a) or MODEL_NORMS[0],
          MODEL_NORMS)
    rows = []
    progress = progress_bar(len(archs), unit_name="model")
    for i, arch in enumerate(archs):
        rows.append(study(arch, dataset, args))
        progress.update(i + 1)
    write_study(args.out, "table", table(rows), rows, lambda path: plot(rows, path, args.data), figure="bounds.png")
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
