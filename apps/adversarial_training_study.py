"""The tables and figures of Bigaud, Papereux & Rolland (2021), "Adversarial training for image classification"
(the BIPARO report), one command each:

    python -m apps.adversarial_training_study table1 [--profile digits|cifar] [--quick]

* `table1`: BasicNet trained with l-inf PGD, l2 PGD and l-inf FGSM, attacked by each (40 epochs, lr x0.1 at 20, 30).
* `figure1`: the l-inf PGD training radius against accuracy under l-inf PGD at the profile's fixed radius.
* `figure2`: robust overfitting: training and test robust accuracy per epoch of Table 1's l-inf PGD BasicNet, with
  the learning-rate drops marked (Rice et al. 2020).
* `table2`: l-inf PGD against MAT-Rand training (Araujo et al. 2020) of a wide ResNet-18.
* `table3`: ResNet-20 against wide ResNet-18 against VGG-11, all MAT-Rand trained.
* `table4`: Gaussian noise injection at inference (and training) for BasicNet and the wide ResNet-18, attacked with
  and without expectation over transformation (EOT), so the table shows how much of the gain survives an adaptive
  attack.
* `table5`: NoiseNet-20 (parametric noise on every weight layer, Rakin et al. 2018) against ResNet-20, both MAT-Rand
  trained as in the report, with `figure3`, their learning curves.
* `table6`: the combined recipe (a wider ResNet-18, 95 % adversarial / 5 % natural batches, input noise, early
  stopping on robust validation accuracy) against the l-inf PGD baseline.
* `all`: every one of them.

Profiles (`adversarial_training_cells.PROFILES`): `digits` (default; 8x8 digits, l-inf 0.2, l2 0.5, AdamW at lr
1e-3, the report's schedules, and ResNet-18s of width 16 and 20 instead of 64 and 80, so that each table fits 30
minutes on 2 CPU cores) and `cifar` (the report's settings: CIFAR-10 from tfds, eps 8/255, 40 / 50 epochs, SGD at lr
0.01, ResNet-18 of width 64 and 80). Every attack is 20 steps; l-inf PGD steps by the dataset's evaluation step
(0.025 at 0.2 on digits, 2/255 at 8/255 on CIFAR-10), l2 PGD by 2.5 eps / 20. Cells are shared by the
tables that use the same network and kept in `OUT/bigaud2021_cells/cells/`; each table or figure writes markdown (the
report's layout, with its CIFAR-10 numbers beside), JSON and a PNG to `OUT/bigaud2021_<item>/`. OUT defaults to
`apps/results` (`apps/results/quick` with `--quick`, `apps/results/cifar` for the cifar profile); an interrupted fit
resumes from its run folder under `--runs`.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.adversarial_training_cells import PROFILES, Cell, basicnet, run_cell  # noqa: E402
from apps.study_options import add_study_arguments, chosen, load_test_subset, run_study, study_parser  # noqa: E402


def _resnet18(profile, method="mat-rand", **options):
    return Cell("resnet18", method, width=profile.resnet18_width, **options)


RESNET20 = Cell("resnet20", "mat-rand", curves=True)
NOISENET20 = Cell("noisenet20", "mat-rand", curves=True)

# Each item: its title, its columns as (heading, cell), and the BIPARO report's CIFAR-10 numbers in ROWS order.
def items(profile):
    wider = Cell("resnet18", "pgd", width=profile.wider_width, noise=True, mixed=True, early_stopping=True)
    return {
        "table1": ("Table 1: test accuracies of different trainings of a BasicNet under different attacks", [
            ("ℓ∞ PGD training", basicnet("pgd", "linf"), (40.7, 27.46, 28.86, 27.96)),
            ("ℓ2 PGD training", basicnet("pgd", "l2"), (47.7, 27.22, 32.7, 28.41)),
            ("ℓ∞ FGSM training", basicnet("fgsm", "linf"), (43.2, 24.15, 25.4, 29.34))]),
        "figure1": ("Figure 1: ℓ∞ PGD training radius against accuracy under ℓ∞ PGD at a fixed radius", [
            (f"train eps {eps:.4g}", basicnet("pgd", "linf", eps=None if eps == profile.eps else eps), None)
            for eps in profile.train_eps]),
        "figure2": ("Figure 2: robust overfitting in adversarial training (BasicNet, ℓ∞ PGD)", [
            ("ℓ∞ PGD training", basicnet("pgd", "linf"), None)]),
        "table2": ("Table 2: test accuracies of ℓ∞ PGD and MAT-Rand training of a wide ResNet-18", [
            ("PGD ℓ∞ training", _resnet18(profile, "pgd"), (79.63, 49.44, 41.48, 64.06)),
            ("PGD ℓ∞/ℓ2 Random training", _resnet18(profile), (76.94, 46.52, 52.08, 61.44))]),
        "table3": ("Table 3: accuracies of different architectures (MAT-Rand training)", [
            ("Standard ResNet20", RESNET20, (70.01, 39.76, 48.10, 53.82)),
            ("Wide ResNet18", _resnet18(profile), (79.94, 43.52, 54.08, 61.44)),
            ("VGG11", Cell("vgg11", "mat-rand"), (75.16, 43.48, 52.54, 57.24))]),
        "table4": ("Table 4: test accuracies with and without noise injection at inference (ℓ∞ PGD training)", [
            ("BasicNet", basicnet("pgd", "linf"), (24.02, 19.71, 18.56, 19.76)),
            ("BasicNet with noise", basicnet("pgd", "linf", noise=True), (25.53, 20.78, 18.58, 20.32)),
            ("Wide ResNet", _resnet18(profile, "pgd"), (79.94, 43.52, 54.08, 61.44)),
            ("Wide ResNet with noise", _resnet18(profile, "pgd", noise=True), (78.13, 44.04, 54.11, 61.15))]),
        "table5": ("Table 5: NoiseNet-20 against ResNet-20 (MAT-Rand training)", [
            ("NoiseNet20", NOISENET20, (64.62, 41.15, 49.01, 49.51)),
            ("ResNet20", RESNET20, (70.01, 39.76, 48.10, 53.82))]),
        "figure3": ("Figure 3: learning curves of NoiseNet-20 and ResNet-20", [
            ("NoiseNet20", NOISENET20, None), ("ResNet20", RESNET20, None)]),
        "table6": ("Table 6: the combined recipe against the baseline", [
            ("Wide Resnet18", _resnet18(profile, "pgd"), (79.63, 49.44, 52.48, 64.08)),
            ("Wider Resnet18 manual mix", wider, (80.37, 52.34, 56.02, 65.35))]),
    }


ITEMS = ("table1", "figure1", "figure2", "table2", "table3", "table4", "table5", "figure3", "table6")


def main(argv=None):
    parser = study_parser(__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("item", choices=ITEMS + ("all",), help="the table or figure to produce")
    add_study_arguments(parser, PROFILES,
                        "the folder of the item folders bigaud2021_ITEM and bigaud2021_cells (default "
                        "apps/results, apps/results/quick or apps/results/cifar)",
                        "run folders (default runs/bigaud2021, + _quick or _cifar)")
    args = parser.parse_args(argv)
    profile, suffix = chosen(args, PROFILES)
    out = args.out or os.path.join("apps/results", suffix.lstrip("_"))
    runs = args.runs or f"runs/bigaud2021{suffix}"

    from kerobust.errors import KerobustError

    from apps.adversarial_training_report import write_item

    try:
        dataset = load_test_subset(profile.data, args.data_dir, profile.points)
        catalogue = items(profile)
        for item in ITEMS if args.item == "all" else (args.item,):
            title, columns = catalogue[item]
            cells = []
            for i, (heading, cell, _) in enumerate(columns):
                print(f"[{item} {i + 1}/{len(columns)}] {heading}: {cell.name}", flush=True)
                cells.append(run_cell(profile, cell, os.path.join(out, "bigaud2021_cells"), runs, dataset))
            write_item(os.path.join(out, f"bigaud2021_{item}"), item, title, columns, cells, profile)
    except KerobustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
