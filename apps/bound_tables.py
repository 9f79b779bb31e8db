"""Peck (2017), "Robustness of Classifiers to Adversarial Perturbations" (MSc thesis, Ghent University), Tables 5.1
and 5.2 and Figure 5.11: theoretical against empirical robustness bounds of LeNet-5 and CIFAR-NIN, normalised per
pixel, with the share of test points that FGS perturbs, and the statistics and boxplots of the FGS eps values.

For each network: train it (Adam, lr 1e-3, batch 64, as the thesis's Caffe solvers), then on the test split:
* the thesis's bound (Algorithm 5.1, kerobust's `thesis` mode, the thesis's flaws included: docs/bounds.md
  section 8) and kerobust's sound bound (`sound` mode), each the mean over points of the l2 (Frobenius) lower bound
  on the smallest adversarial perturbation, divided by the number of input pixels (H x W x C) as the thesis
  normalises;
* the empirical bound: the mean norm of the smallest FGS perturbation that changes the decision (thesis Algorithm
  2.1: a line search over eps up to `upper`), normalised the same way, and the rate, the share of points perturbed;
* the flipping eps values: min, max, mean, median, standard deviation (Table 5.2) and their boxplot (Figure 5.11).

Everything is in pixel units of [0, 1] inputs; the thesis worked on [0, 255] pixels with eps up to 100, so its
numbers are shown divided by 255 beside ours, and `upper` defaults to 100 / 255.

Profiles: `digits` (default; both networks on 8x8 digits, 30 epochs, a few minutes on 2 CPU cores) and `thesis`
(LeNet-5 on MNIST and CIFAR-NIN on CIFAR-10 from tfds, as in the thesis). Finished networks are kept in
`OUT/cells/` and read back.

    python -m apps.bound_tables [--profile digits|thesis] [--quick] [--out apps/results/peck2017_tables_5_1_5_2]
"""

import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.study_options import add_study_arguments, chosen, load_test_subset, run_study, study_parser  # noqa: E402

NETWORKS = ("lenet5", "cifar_nin")
TITLES = {"lenet5": "LeNet-5", "cifar_nin": "CIFAR-NIN"}
# The thesis's Tables 5.1 and 5.2 ([0, 255] pixels): normalised theoretical bound, normalised empirical bound, rate
# (%); eps min, max, mean, median, std.
THESIS = {"lenet5": ((7.274294e-8, 0.9334476, 99.94), (0.00065, 94.17, 26.72, 25.34, 13.27481)),
          "cifar_nin": ((1.579417e-17, 0.3129927, 93.04), (0.00121, 99.88, 5.783, 3.093, 9.184525))}
STATISTICS = ("min", "max", "mean", "median", "std")
THESIS_DATA = {"lenet5": "MNIST", "cifar_nin": "CIFAR-10"}  # the datasets of the thesis's numbers
DATASETS = {"digits": "digits", "mnist": "MNIST", "cifar10": "CIFAR-10"}


def this_run(row):
    """The label of this run's numbers beside the thesis's: "digits (this run)"."""
    return f"{DATASETS.get(row['data'], row['data'])} (this run)"


@dataclasses.dataclass(frozen=True)
class Profile:
    data: dict  # network -> dataset
    epochs: int = 30
    upper: float = 100 / 255  # the thesis's largest FGS eps, in [0, 1] pixels
    points: int = 0  # test points (0: the whole test split)
    seed: int = 0


PROFILES = {
    "digits": Profile(data={"lenet5": "digits", "cifar_nin": "digits"}),
    "thesis": Profile(data={"lenet5": "mnist", "cifar_nin": "cifar10"}),
    "quick": Profile(data={"lenet5": "digits", "cifar_nin": "digits"}, epochs=1, points=32),
}


def measure(network, dataset, profile):
    """Trains `network` on `dataset` and measures its row of Tables 5.1 and 5.2 (JSON-ready)."""
    import keras
    import numpy as np

    from kerobust.bounds import BoundEvaluator
    from kerobust.bounds.lipschitz.attack_check import fgs_line_search, predictions, violations
    from kerobust.models import build_model

    keras.utils.set_random_seed(profile.seed)
    model = build_model(network, dataset.input_shape, dataset.num_classes, dataset.mean, dataset.std)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(dataset.x_train, dataset.y_train, batch_size=64, epochs=profile.epochs, verbose=0)
    x, y = dataset.x_test, dataset.y_test
    pixels = int(np.prod(dataset.input_shape))
    norms, eps = fgs_line_search(model, x, upper=profile.upper, return_eps=True)
    flipped = np.isfinite(eps)
    if not flipped.any():
        from kerobust.errors import KerobustError

        raise KerobustError(f"{network}: FGS perturbed no point with eps <= {profile.upper:.4g}; raise --upper.")
    row = {"network": network, "data": dataset.name, "pixels": pixels, "points": len(x),
           "accuracy": 100 * float(np.mean(predictions(model, x) == y)),
           "rate": 100 * float(flipped.mean()), "empirical": float(norms[flipped].mean()) / pixels,
           "smallest_perturbation": float(norms[flipped].min()), "eps": eps[flipped].tolist(),
           **{name: float(getattr(np, name)(eps[flipped])) for name in STATISTICS}}
    for mode in ("thesis", "sound"):
        bounds = BoundEvaluator(model, mode)(x)
        row[mode] = float(bounds.mean()) / pixels
        row[f"{mode}_violations"] = int(len(violations(bounds[flipped], norms[flipped])))
    return row


def markdown_report(rows, profile):
    """The markdown of Table 5.1 and that of Table 5.2."""
    from kerobust.evaluation.report import markdown

    data = ", ".join(f"{TITLES[r['network']]} on {r['data']} ({r['points']} test points, {r['accuracy']:.2f} % "
                     f"accurate)" for r in rows)
    lines = ["# Peck (2017), Table 5.1: theoretical and empirical robustness bounds", "",
             f"{data}. Bounds and perturbations are l2 norms in [0, 1] pixel units, averaged (bounds: over the test "
             "points; FGS perturbations: over the points FGS perturbed, the rate) and divided by the input's pixels; "
             f"FGS searches eps up to {profile.upper:.4g}. The thesis's numbers ([0, 255] pixels, MNIST and CIFAR-10) "
             "are divided by 255.", "",
             f"{', '.join(dict.fromkeys(this_run(r) for r in rows))}: the networks trained and bounded here:", "",
             markdown(["Network", "Normalized theoretical bound", "Normalized empirical bound", "Rate",
                       "Normalized sound bound", "thesis violations", "sound violations"],
                      [[TITLES[r["network"]], f"{r['thesis']:.6e}", f"{r['empirical']:.7f}", f"{r['rate']:.2f}%",
                        f"{r['sound']:.6e}", str(r["thesis_violations"]), str(r["sound_violations"])] for r in rows]),
             "", f"thesis ({', '.join(f'{TITLES[n]} on {THESIS_DATA[n]}' for n in NETWORKS)}), its numbers "
             "divided by 255:", "",
             markdown(["Network", "Normalized theoretical bound", "Normalized empirical bound", "Rate"],
                      [[f"{TITLES[n]} ({THESIS_DATA[n]})", f"{THESIS[n][0][0] / 255:.6e}",
                        f"{THESIS[n][0][1] / 255:.7f}", f"{THESIS[n][0][2]:.2f}%"] for n in NETWORKS]),
             "", "A violation is a point whose FGS perturbation is smaller than its bound: the bound is wrong there "
             "(the thesis's rules are unsound, docs/bounds.md section 8; a sound-mode violation would be a bug)."]
    table52 = ["# Peck (2017), Table 5.2: statistics of the FGS eps values ([0, 1] pixels)", "",
               markdown(["Network", "Min", "Max", "Mean", "Median", "Std"],
                        [[f"{TITLES[r['network']]}, {this_run(r)}"] + [f"{r[s]:.4g}" for s in STATISTICS]
                         for r in rows]
                        + [[f"{TITLES[n]}, thesis ({THESIS_DATA[n]}) / 255"] + [f"{v / 255:.4g}" for v in THESIS[n][1]]
                           for n in NETWORKS]), "", "Boxplots: figure5_11.png."]
    return "\n".join(lines), "\n".join(table52)


def boxplots(rows, path):
    from kerobust.figures import png_figure

    with png_figure(path, 1, len(rows), figsize=(3.6 * len(rows), 4.2), squeeze=False) as (figure, axes):
        for axis, row in zip(axes[0], rows):
            axis.boxplot(row["eps"])
            axis.set_title(f"{TITLES[row['network']]}, {this_run(row)}", fontsize=10)
            axis.set_xticks([1], [f"{len(row['eps'])} of {row['points']} test points\n(those FGS perturbed)"],
                           fontsize=8)
            axis.set_ylabel("smallest flipping FGS eps\n(l-inf, [0, 1] pixels)")
            axis.grid(axis="y", alpha=0.3)
        figure.suptitle("Figure 5.11: the smallest FGS eps that changes each test point's decision", fontsize=10)


def main(argv=None):
    parser = study_parser(__doc__)
    add_study_arguments(parser, PROFILES, "default apps/results/peck2017_tables_5_1_5_2 (+ _thesis or _quick)")
    args = parser.parse_args(argv)
    profile, suffix = chosen(args, PROFILES)
    out = args.out or f"apps/results/peck2017_tables_5_1_5_2{suffix}"

    from kerobust.errors import KerobustError
    from kerobust.atomic_files import write_text
    from kerobust.evaluation.report import write_study
    from kerobust.experiment.study_cells import cached_cell

    try:
        rows = []
        for i, network in enumerate(NETWORKS):
            print(f"[{i + 1}/{len(NETWORKS)}] {TITLES[network]} on {profile.data[network]}", flush=True)
            dataset = load_test_subset(profile.data[network], args.data_dir, profile.points)
            settings = dict(dataclasses.asdict(profile), data=profile.data[network], network=network)
            rows.append(cached_cell(os.path.join(out, "cells", f"{network}.json"), settings,
                                    lambda: measure(network, dataset, profile)))
    except KerobustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table51, table52 = markdown_report(rows, profile)
    summary = [{k: v for k, v in row.items() if k != "eps"} for row in rows]  # the eps values stay in the cells
    write_study(out, "table5_1", table51, summary, lambda path: boxplots(rows, path), figure="figure5_11.png")
    print(table52)
    write_text(os.path.join(out, "table5_2.md"), table52 + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
