"""O'Hanlon (2021), "Adversarial Robustness of Convolutional Networks", Table 1 and Figures 2-3: WideResNet-16-k
for k = 1..5 with no normalisation, BN, ConvNorm and BN+ConvNorm, under free adversarial training, scored by clean,
FGSM and PGD accuracy (top-1 and top-5).

Every cell is one library fit run (`kerobust.experiment.run`): free adversarial training (Shafahi et al. 2019, m = 4
replays, step = eps) with AdamW at lr 1e-3, then clean, FGSM and PGD-10 (step eps / 4, with a random start) on the
test split, and the gradient-masking checks on those attacks (`kerobust.evaluation.masking`; a cell they flag is
marked in the table).

Profiles:
* `digits` (default, 27 minutes on 2 CPU cores): 8x8 digits, l-inf eps 0.2 (PGD step 0.05), 6 passes over the
  training split (24 epochs of budget, each minibatch replayed 4 times). Shrunk from the paper on purpose: 6 passes
  instead of 40, so that the 20 cells fit the time.
* `cifar`: the paper's settings: CIFAR-10 (tfds, needs the data locally), 40 passes, eps 8/255, PGD-10 with step
  2/255. As in the ConvNorm reference code O'Hanlon used, every one of the 40 epochs replays each minibatch m
  times (Shafahi et al. would divide the epochs by m). kerobust evaluates on the CIFAR-10 test split, where the
  paper evaluated on its 10 % validation hold-out.

Differences from the paper, on purpose: the perturbation of free training persists across minibatches (Shafahi et
al.; the ConvNorm reference re-zeroed it every minibatch), and the attacks run in inference mode.

Finished cells are kept in `OUT/cells/*.json` and a rerun reads them back; an interrupted fit resumes from its run
folder (`--runs`). Writes `OUT/table1.md` (Table 1's layout, then natural accuracy, cost and the paper's findings
checked), `OUT/table1.json`, `OUT/table1.png` (accuracy against k per attack), `OUT/figure2.png` (clean validation
accuracy per epoch, a line per k) and `OUT/figure3.png` (clean top-1 test accuracy against k, a line per
normalisation); the plots run from 0 to 100 % with 95 % Wilson error bars, and each finding is checked by a
two-proportion z-test at 5 % (`apps.significance`).

    python -m apps.width_normalisation_study [--profile digits|cifar] [--quick] [--ks 1,2,3,4,5] [--norms none,bn,...]
"""

import argparse
import dataclasses
import os
import sys


from apps.study_options import add_study_arguments, chosen, load_test_subset, run_study, study_parser  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NORMS = ("none", "bn", "convnorm", "bn+convnorm")
COLUMN = {"none": "Vanilla", "bn": "BN", "convnorm": "ConvNorm", "bn+convnorm": "BN+ConvNorm"}
ATTACKS = (("pgd", "PGD"), ("fgsm", "FGSM"))  # Table 1's row order
MASKED = "†"  # marks a cell that the masking checks flagged


@dataclasses.dataclass(frozen=True)
class Profile:
    """The settings of one study; every cell's numbers depend on all of them."""

    data: str
    ks: tuple
    passes: int  # passes over the training split; each replays every minibatch `replays` times
    eps: float
    pgd_steps: int = 10
    pgd_step: float = None  # default eps / 4 (O'Hanlon's 2/255 at 8/255)
    replays: int = 4
    depth: int = 16
    batch_size: int = 128
    lr: float = 1e-3
    points: int = 0  # test points evaluated (0: the whole test split)
    val_points: int = 0  # robust validation points per epoch (0: clean validation only)
    diagnostics_points: int = 0  # points of the masking probe (0: only the checks on FGSM and PGD)
    seed: int = 0

    @property
    def step(self):
        return self.eps / 4 if self.pgd_step is None else self.pgd_step

    def settings(self):
        """The values a finished cell is reused under (the k range is not one of them)."""
        values = dataclasses.asdict(self)
        values.pop("ks")
        return values


PROFILES = {
    "digits": Profile(data="digits", ks=(1, 2, 3, 4, 5), passes=6, eps=0.2),
    "cifar": Profile(data="cifar10", ks=(1, 2, 3, 4, 5), passes=40, eps=8 / 255, pgd_step=2 / 255),
    "quick": Profile(data="digits", ks=(1,), passes=1, eps=0.2, depth=10, points=48),  # for tests
}


def cell_name(k, norm):
    return f"k{k}_{norm.replace('+', '-')}"


def fit_config(profile, k, norm, run_dir):
    """The `FitConfig` of one cell."""
    from kerobust.experiment import FitConfig

    return FitConfig(
        arch="wrn", depth=profile.depth, k=k, norm=norm, data=profile.data, train_method="free",
        replays=profile.replays, epochs=profile.passes * profile.replays, batch_size=profile.batch_size,
        optimizer="adamw", lr=profile.lr, eps=profile.eps, eval_eps=profile.eps, eval_steps=[profile.pgd_steps],
        eval_step_size=profile.step, val_points=profile.val_points, diagnostics_points=profile.diagnostics_points,
        seed=profile.seed, run_dir=run_dir,
    )


def run_cell(profile, k, norm, out, runs, dataset, data_dir=None):
    """Trains and evaluates one cell, or reads it back when an earlier run finished it."""
    from kerobust.experiment.study_cells import cached_cell

    return cached_cell(os.path.join(out, "cells", cell_name(k, norm) + ".json"), profile.settings(),
                       lambda: _train_and_evaluate(profile, k, norm, runs, dataset, data_dir))


def _train_and_evaluate(profile, k, norm, runs, dataset, data_dir):
    from kerobust.experiment import run

    config = fit_config(profile, k, norm, os.path.join(runs, cell_name(k, norm)))
    config.data_dir = data_dir
    result = run(config, dataset=dataset)
    evaluation = result.evaluation
    fgsm, pgd = (next(a for a in evaluation.attacks if a.name == name) for name in ("FGSM", "PGD"))
    return {
        "k": k, "norm": norm, "model": result.classifier.name, "params": int(result.classifier.count_params()),
        "clean": {"top1": 100 * evaluation.clean_top1, "top5": 100 * evaluation.clean_top5},
        "fgsm": {"top1": 100 * fgsm.top1, "top5": 100 * fgsm.top5},
        "pgd": {"top1": 100 * pgd.top1, "top5": 100 * pgd.top5},
        "points": evaluation.num_points, "train_seconds": result.train_seconds,
        "val_accuracy": [100 * v for v in result.metrics["history"].get("val_accuracy", [])],
        "masking_warnings": evaluation.warnings, "run_dir": result.run_dir,
    }


def _value(cells, k, norm, attack, top):
    cell = cells.get((k, norm))
    if cell is None:
        return "n/a"
    flagged = attack != "clean" and cell["masking_warnings"]
    return f"{cell[attack][top]:.2f}" + (f" {MASKED}" if flagged else "")


def table1(cells, ks, norms):
    """Table 1's layout: top-N x attack x k rows (the paper's Precision@1 / @5 are top-1 / top-5 accuracy), one
    column per normalisation (percent)."""
    from kerobust.evaluation.report import markdown

    rows = []
    for top, label in (("top1", "top-1"), ("top5", "top-5")):
        for a, (attack, name) in enumerate(ATTACKS):
            for i, k in enumerate(ks):
                first = (label if a == 0 and i == 0 else "", name if i == 0 else "", str(k))
                rows.append([*first, *(_value(cells, k, norm, attack, top) for norm in norms)])
    return markdown(["Accuracy", "Attack", "k", *(COLUMN[n] for n in norms)], rows)


def natural_table(cells, ks, norms):
    """Figure 3's numbers: clean top-1 and top-5 test accuracy per k and normalisation."""
    from kerobust.evaluation.report import markdown

    rows = [[label if i == 0 else "", str(k), *(_value(cells, k, n, "clean", top) for n in norms)]
            for top, label in (("top1", "top-1"), ("top5", "top-5")) for i, k in enumerate(ks)]
    return markdown(["Accuracy", "k", *(COLUMN[n] for n in norms)], rows)


def cost_table(cells, ks, norms):
    """Parameters (thousands) and training seconds per cell."""
    from kerobust.evaluation.report import markdown

    def entry(k, norm):
        cell = cells.get((k, norm))
        return "n/a" if cell is None else f"{cell['params'] / 1e3:.0f} k, {cell['train_seconds']:.0f} s"

    return markdown(["k", *(COLUMN[n] for n in norms)], [[str(k), *(entry(k, n) for n in norms)] for k in ks])


def findings(cells, ks, norms):
    """O'Hanlon's (2021) findings (section 4.2 and Table 1's discussion), each checked against the measured cells by
    the z-test of `apps.significance` (the rules are stated above the findings in `markdown_report`)."""
    from apps.significance import HOLDS, NOISE, OPPOSITE, majority, two_proportion_test, verdict, z_and_p

    lines = []

    def series(norm, attack):
        return [cells[(k, norm)][attack]["top1"] for k in ks if (k, norm) in cells]

    def points(norm):
        return [cells[(k, norm)]["points"] for k in ks if (k, norm) in cells]

    def test(a, b, n_a, n_b, note=""):
        """"(note; z = .., p = ..): verdict" of the claim a > b."""
        return f"({note}{z_and_p(*two_proportion_test(a, b, n_a, n_b))}): {verdict(a, b, n_a, n_b)}"

    def over_vanilla(norm, attack):
        """The claim "`norm` is above vanilla" at every width both ran: how often higher, how often significantly
        higher or lower, and the verdict over the widths (`majority`)."""
        pairs = [(cells[(k, norm)], cells[(k, "none")]) for k in ks if (k, norm) in cells and (k, "none") in cells]
        verdicts = [verdict(a[attack]["top1"], b[attack]["top1"], a["points"], b["points"]) for a, b in pairs]
        higher = sum(a[attack]["top1"] > b[attack]["top1"] for a, b in pairs)
        better, worse = (sum(v == answer for v in verdicts) for answer in (HOLDS, OPPOSITE))
        return (f"higher at {higher} of {len(pairs)} widths, significantly higher at {better}, significantly lower at "
                f"{worse}: {majority(verdicts) if pairs else NOISE}")

    if len(ks) < 2:
        return ["(the findings compare widths: run at least two values of k)"]
    for norm in norms:
        clean, n = series(norm, "clean"), points(norm)
        if len(clean) == len(ks):
            lines.append(f"* Wider is more accurate ({COLUMN[norm]}): clean top-1 {clean[0]:.1f} % at k={ks[0]}, "
                         f"{clean[-1]:.1f} % at k={ks[-1]} {test(clean[-1], clean[0], n[-1], n[0])}.")
    for norm in ("bn", "convnorm"):
        if norm in norms and "none" in norms:
            lines.append(f"* {COLUMN[norm]} improves natural accuracy over vanilla: {over_vanilla(norm, 'clean')}.")
    for norm in ("convnorm", "bn+convnorm"):
        fgsm, pgd, n = series(norm, "fgsm"), series(norm, "pgd"), points(norm)
        if norm in norms and len(fgsm) == len(ks):
            lines.append(f"* {COLUMN[norm]}'s FGSM accuracy rises with k: {fgsm[0]:.1f} % at k={ks[0]}, "
                         f"{fgsm[-1]:.1f} % at k={ks[-1]} {test(fgsm[-1], fgsm[0], n[-1], n[0])}.")
            lowest = min(range(1, len(ks)), key=pgd.__getitem__)
            half = f"half of k={ks[0]}: {pgd[0] / 2:.1f} %; "
            lines.append(f"* {COLUMN[norm]}'s PGD accuracy collapses at larger k (below half of k={ks[0]}'s): "
                         f"{pgd[0]:.1f} % at k={ks[0]}, lowest {pgd[lowest]:.1f} % "
                         f"{test(pgd[0] / 2, pgd[lowest], n[0], n[lowest], half)}.")
    if "bn" in norms and "none" in norms:
        for attack, name in ATTACKS:
            lines.append(f"* BN is more robust than vanilla against {name}: {over_vanilla('bn', attack)}.")
    flagged = [(k, n) for (k, n), cell in sorted(cells.items()) if cell["masking_warnings"]]
    lines.append(f"* Masking checks flagged {len(flagged)} of {len(cells)} cells"
                 + (": " + ", ".join(f"{COLUMN[n]} k={k}" for k, n in flagged) if flagged else "") + ".")
    return lines


def markdown_report(cells, ks, norms, profile):
    from apps.significance import TEST

    warnings = [f"* {COLUMN[n]} k={k}: " + "; ".join(w["message"] for w in cell["masking_warnings"])
                for (k, n), cell in sorted(cells.items()) if cell["masking_warnings"]]
    points = next(iter(cells.values()))["points"] if cells else 0
    parts = [
        f"Free adversarial training (m={profile.replays}, {profile.passes} pass{'es' if profile.passes > 1 else ''}), "
        f"WRN-{profile.depth}-k on "
        f"{profile.data}, l-inf eps={profile.eps:g}: FGSM and PGD-{profile.pgd_steps} (step {profile.step:g}) "
        f"accuracy (%) on {points} test points, top-1 and top-5 (the paper's Precision@1 and @5; one point is "
        f"{100 / max(points, 1):.2f} points of accuracy; the "
        f"binomial standard error of a 30 % accuracy is {100 * (0.3 * 0.7 / max(points, 1)) ** 0.5:.1f} points). "
        f"{MASKED}: flagged by the gradient-masking checks (listed below). In the PNGs, y-axes run from 0 to 100 % "
        "and error bars are each accuracy's 95 % Wilson score interval.",
        "", table1(cells, ks, norms), "", "Natural (clean) test accuracy (%), Figure 3:", "",
        natural_table(cells, ks, norms), "", "Cost (parameters, training seconds):", "", cost_table(cells, ks, norms),
        "", f"The findings of O'Hanlon (2021), checked on these runs by a {TEST} of the two accuracies compared "
        "(the cells keep accuracies, not per-point predictions, so McNemar's paired test cannot be run; the z-test "
        "treats the two accuracies as independent samples). \"holds\": the difference in the claimed direction is "
        "significant; \"does not hold\": it is significant in the opposite direction; \"within noise (not "
        f"significant)\": neither. A trend over k compares k={ks[0]} with k={ks[-1]}; a claim over the widths is "
        "tested at each width and holds (does not hold) when it does so at more than half of the widths; the PGD "
        f"collapse compares the lowest PGD accuracy at k > {ks[0]} with half of k={ks[0]}'s (tested as an accuracy "
        "on as many points, which overstates its noise).", "", *findings(cells, ks, norms),
    ]
    if warnings:
        parts += ["", "Masking warnings:", "", *warnings]
    return "\n".join(parts)


ERROR_BARS = "error bars: 95 % Wilson score intervals"


def _lines(axis, cells, ks, norms, attack, top):
    """Accuracy against k, a line per normalisation (nudged sideways so that none hides another), with 95 % Wilson
    error bars; an x marks a cell the masking checks flagged."""
    from apps.significance import error_bars

    for i, norm in enumerate(norms):
        xs = [k for k in ks if (k, norm) in cells]
        shift = 0.08 * (i - (len(norms) - 1) / 2)
        ys = [cells[(k, norm)][attack][top] for k in xs]
        axis.errorbar([k + shift for k in xs], ys, yerr=error_bars(ys, [cells[(k, norm)]["points"] for k in xs]),
                      marker="o", markersize=4, capsize=2, linewidth=1.2, color=f"C{i}", label=COLUMN[norm])
        flagged = [k for k in xs if attack != "clean" and cells[(k, norm)]["masking_warnings"]]
        axis.plot([k + shift for k in flagged], [cells[(k, norm)][attack][top] for k in flagged], "x", color="k",
                  markersize=9)
    axis.set_xticks(list(ks))
    axis.set_xlabel("widening factor k")
    axis.set_ylim(0, 101)
    axis.set_yticks(range(0, 101, 20))
    axis.grid(axis="y", alpha=0.3)


def _points(cells):
    return next(iter(cells.values()))["points"] if cells else 0


def plot_table1(cells, ks, norms, path, depth=16, eps=None, pgd_steps=10):
    """Table 1 as four panels (top-1 / top-5 x PGD / FGSM), accuracy against k; x marks a flagged cell."""
    from kerobust.figures import png_figure

    radius = "" if eps is None else f" at l-inf eps {eps:g}"
    names = {"pgd": f"PGD-{pgd_steps}{radius}", "fgsm": f"FGSM{radius}"}
    with png_figure(path, 2, 2, figsize=(9.5, 7)) as (figure, axes):
        for row, (top, label, short) in enumerate((("top1", "top-1", "top-1"), ("top5", "top-5", "top-5"))):
            for column, (attack, _) in enumerate(ATTACKS):
                axis = axes[row][column]
                _lines(axis, cells, ks, norms, attack, top)
                axis.set_title(f"{names[attack]}, {label}", fontsize=10)
                axis.set_ylabel(f"robust {short} test accuracy (%)")
        axes[0][0].legend(fontsize=8, loc="upper left", ncol=2)
        figure.suptitle(f"WRN-{depth}-k under free adversarial training: accuracy under attack on {_points(cells)} "
                        f"test points\n({ERROR_BARS}; x: flagged by the masking checks)", fontsize=10)


def plot_figure2(cells, ks, norms, path, depth=16, val_points=None):
    """Figure 2: clean validation accuracy per epoch, a line per k, a panel per normalisation; with `val_points`
    (the validation split's size) a band of each value's 95 % Wilson interval."""
    from matplotlib.ticker import MaxNLocator

    from apps.significance import wilson_interval
    from kerobust.figures import png_figure

    with png_figure(path, 1, len(norms), figsize=(3.6 * len(norms), 3.8), sharey=True, squeeze=False) as (
            figure, axes):
        for axis, norm in zip(axes[0], norms):
            for i, k in enumerate(ks):
                curve = cells.get((k, norm), {}).get("val_accuracy", [])
                epochs = range(1, len(curve) + 1)
                axis.plot(epochs, curve, marker=".", color=f"C{i}", label=f"k={k}")
                if val_points:
                    low, high = zip(*(wilson_interval(v, val_points) for v in curve)) if curve else ((), ())
                    axis.fill_between(epochs, low, high, color=f"C{i}", alpha=0.12, linewidth=0)
            axis.set_title(f"WRN-{depth}-k, {COLUMN[norm]}")
            axis.set_xlabel("epoch (pass)")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylim(0, 101)
            axis.set_yticks(range(0, 101, 20))
            axis.grid(axis="y", alpha=0.3)
        axes[0][0].set_ylabel("clean validation accuracy (%)")
        axes[0][-1].legend(fontsize=8, loc="lower right")
        held_out = f"{val_points} held-out validation points" if val_points else "the validation split"
        bands = "; bands: 95 % Wilson score intervals" if val_points else ""
        figure.suptitle(f"Clean (unattacked) top-1 accuracy on {held_out} after each epoch{bands}", fontsize=10)


def plot_figure3(cells, ks, norms, path, depth=16):
    """Figure 3: top-1 clean test accuracy against k, a line per normalisation: on 0-100 %, and beside it the top of
    the axis enlarged with the same error bars (what a difference of a point is worth)."""
    import math

    from apps.significance import wilson_interval
    from kerobust.figures import png_figure

    with png_figure(path, 1, 2, figsize=(9.5, 3.9)) as (figure, axes):
        for axis in axes:
            _lines(axis, cells, ks, norms, "clean", "top1")
            axis.set_ylabel("clean top-1 test accuracy (%)")
        axes[0].set_title("full scale", fontsize=10)
        axes[0].legend(fontsize=8, loc="lower right")
        lows = [wilson_interval(cell["clean"]["top1"], cell["points"])[0] for cell in cells.values()]
        bottom = 2 * math.floor(min(lows + [98.0]) / 2)
        axes[1].set_ylim(bottom, 100.5)
        axes[1].set_yticks(range(bottom, 101, 2 if 100 - bottom <= 20 else 10))
        axes[1].set_title("enlarged top of the same axis (same data and error bars)", fontsize=9)
        figure.suptitle(f"WRN-{depth}-k: clean (unattacked) top-1 accuracy on {_points(cells)} test points "
                        f"({ERROR_BARS})", fontsize=10)


def _choices(text, allowed, what, convert=str):
    values = [convert(v) for v in text.split(",") if v]
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        listed = (f"whole numbers from {allowed.start} to {allowed.stop - 1}" if isinstance(allowed, range)
                  else ", ".join(map(str, allowed)))
        raise argparse.ArgumentTypeError(f"{what} must be a comma-separated list of {listed}")
    return tuple(values)


def build_parser():
    parser = study_parser(__doc__)
    add_study_arguments(parser, PROFILES, "tables, plots and finished cells (default: "
                        "apps/results/ohanlon2021_width_study, with _cifar or _quick appended for those profiles)",
                        "run folders of the fits, models and TensorBoard logs "
                        "(default: runs/ohanlon2021_width_study, with the same suffix)")
    parser.add_argument("--ks", default=None, help="comma-separated widening factors (default: the profile's, 1..5)")
    parser.add_argument("--norms", default=",".join(NORMS), help="comma-separated normalisations (default: all four)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    profile, suffix = chosen(args, PROFILES)
    args.out = args.out or f"apps/results/ohanlon2021_width_study{suffix}"
    args.runs = args.runs or f"runs/ohanlon2021_width_study{suffix}"
    try:
        ks = profile.ks if args.ks is None else _choices(args.ks, range(1, 65), "--ks", int)
        norms = _choices(args.norms, NORMS, "--norms")
    except (argparse.ArgumentTypeError, ValueError) as error:
        parser.error(str(error) if isinstance(error, argparse.ArgumentTypeError) else "--ks takes whole numbers")

    from kerobust.errors import KerobustError
    from kerobust.evaluation.report import write_study

    try:
        dataset = load_test_subset(profile.data, args.data_dir, profile.points)
        todo = [(k, norm) for k in ks for norm in norms]
        cells = {}
        for i, (k, norm) in enumerate(todo):
            print(f"[{i + 1}/{len(todo)}] WRN-{profile.depth}-{k}, {COLUMN[norm]}", flush=True)
            cells[(k, norm)] = run_cell(profile, k, norm, args.out, args.runs, dataset, args.data_dir)
    except KerobustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = [cells[key] for key in todo]
    write_study(args.out, "table1", markdown_report(cells, ks, norms, profile), rows,
                lambda path: plot_table1(cells, ks, norms, path, profile.depth, profile.eps, profile.pgd_steps))
    plot_figure2(cells, ks, norms, os.path.join(args.out, "figure2.png"), profile.depth, len(dataset.y_val))
    plot_figure3(cells, ks, norms, os.path.join(args.out, "figure3.png"), profile.depth)
    print(f"wrote {args.out}/figure2.png, figure3.png")
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
