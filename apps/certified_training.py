"""Certified training study on digits: natural, PGD, IBP, CROWN-IBP and Lipschitz-margin training of Gowal et al.'s
small CNN, scored by clean, PGD-20 and AutoAttack accuracy and by certified accuracy under IBP, CROWN-IBP, CROWN and the
Lipschitz bound.

Rows are training methods; the certified table gives each bound's certified accuracy at l-inf 0.05, 0.1, 0.2 and
l2 0.25, 0.5, and "best", the share of points certified by at least one of them (the per-point maximum of sound
bounds is sound) among IBP, CROWN-IBP and Lipschitz; full CROWN, a backward pass per neuron, is measured on the
first `crown_points` test points only (40: minutes per radius for the width-8 CNN on 2 CPU cores). Lipschitz-margin
training (Tsuzuku et al. 2018) trains at l2 radius `lipschitz_eps`, the others at l-inf. Finished rows are kept under
OUT/cells/ and read back when the study runs again with the same settings.

    python -m apps.certified_training            # about 60 minutes on 2 CPU cores
    python -m apps.certified_training --quick    # a smoke test: few epochs, 48 test points
"""

import dataclasses
import os
import sys
import time


from apps.study_options import run_study, study_parser  # noqa: E402

TRAININGS = ("natural", "pgd", "ibp", "crown-ibp", "lipschitz-margin")
CERTIFIED = ("ibp", "crown-ibp", "lipschitz-margin")
METHODS = ("ibp", "crown-ibp", "crown", "lipschitz")
RADII = (("linf", 0.05), ("linf", 0.1), ("linf", 0.2), ("l2", 0.25), ("l2", 0.5))
ATTACK_EPS = (0.1, 0.2)
SQUARE_QUERIES = 1000  # Square inside AutoAttack (5000 takes 10 minutes per row on 2 CPU cores)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Settings of every row: the certified rows train at `cert_eps` (above the 0.1 they are scored at, as Gowal et
    al. train at 1.1-2x the test radius), PGD at digits' standard 0.2."""

    width: int = 8
    epochs: int = 100  # certified rows; natural and PGD converge in `attack_epochs`
    attack_epochs: int = 30
    batch_size: int = 32
    cert_eps: float = 0.15
    lipschitz_eps: float = 0.3  # l2, Lipschitz-margin training
    pgd_eps: float = 0.2
    warmup_epochs: int = 5
    ramp_epochs: int = 50
    lr: float = 1e-3
    points: int = 0
    crown_points: int = 40  # full CROWN (one backward pass per neuron) on the first test points only
    seed: int = 0


PROFILES = {"digits": Profile(), "quick": Profile(width=1, epochs=3, attack_epochs=3, warmup_epochs=0, ramp_epochs=1,
                                                 points=48, crown_points=16)}


def fit_config(profile, training, run_dir):
    from kerobust.experiment import FitConfig

    certified = training in CERTIFIED
    l2 = training == "lipschitz-margin"
    eps = profile.lipschitz_eps if l2 else profile.cert_eps if certified else profile.pgd_eps
    return FitConfig(
        arch="certcnn", width=profile.width, data="digits", train_method=training,
        epochs=profile.epochs if certified else profile.attack_epochs, threat_norm="l2" if l2 else "linf",
        batch_size=profile.batch_size, eps=eps, eval_eps=eps if l2 else 0.1,
        eval_steps=[20], cert_warmup_epochs=profile.warmup_epochs if certified else None,
        cert_ramp_epochs=profile.ramp_epochs if certified else None, lr=profile.lr, val_points=0,
        diagnostics_points=0, seed=profile.seed, run_dir=run_dir,
    )


def run_row(profile, training, out, runs, dataset):
    """Trains, attacks and certifies one training method, or reads the row back."""
    import json

    import numpy as np

    from kerobust.atomic_files import write_json
    from kerobust.errors import KerobustError
    from kerobust.evaluation import evaluate_robustness
    from kerobust.evaluation.attack_specs import AttackOptions, build_attacks, parse_attack_list
    from kerobust.evaluation.certification import certify
    from kerobust.experiment import run

    path = os.path.join(out, "cells", f"{training}.json")
    settings = dataclasses.asdict(profile)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            row = json.load(handle)
        if row.get("settings") != settings:
            raise KerobustError(f"{path} was computed with other settings ({row.get('settings')}); pass another --out.")
        return row
    result = run(fit_config(profile, training, os.path.join(runs, training)), dataset=dataset)
    model, x, y = result.classifier, dataset.x_test, dataset.y_test
    attacks = [attack for eps in ATTACK_EPS
               for attack in build_attacks(parse_attack_list("pgd-20,autoattack"), eps,
                                           AttackOptions(norm="linf", square_queries=SQUARE_QUERIES))]
    evaluation = evaluate_robustness(model, x, y, attacks, seed=profile.seed)
    row = {"training": training, "train_seconds": round(result.train_seconds, 1), "points": len(x),
           "clean": 100 * evaluation.clean_top1, "description": result.metrics.get("train_method"),
           "attacks": {f"{a.name}@{a.eps:g}": 100 * a.top1 for a in evaluation.attacks}, "certified": {},
           "certify_seconds": {}, "settings": settings, "run_dir": result.run_dir,
           "autoattack": autoattack_members(attacks)}
    for norm in ("linf", "l2"):
        radii = [eps for n, eps in RADII if n == norm]
        margins = {}
        for method in METHODS:
            started = time.perf_counter()
            count = profile.crown_points if method == "crown" else len(x)
            for entry in certify(model, x[:count], y[:count], [method], norm, radii):
                if method != "crown":
                    margins.setdefault(entry["eps"], []).append(entry["margin_lower_bound"])
                row["certified"][f"{method} {norm} {entry['eps']:g}"] = 100 * entry["certified_accuracy"]
            row["certify_seconds"][f"{method} {norm}"] = round(time.perf_counter() - started, 1)
        for eps, found in margins.items():
            row["certified"][f"best {norm} {eps:g}"] = 100 * float(np.mean(np.max(found, axis=0) > 0))
    write_json(path, row)
    return row


def _attack(row, name, eps):
    key = next((k for k in row["attacks"] if k.lower().startswith(name) and k.endswith(f"@{eps:g}")), None)
    return "-" if key is None else f"{row['attacks'][key]:.1f}"


# The members of the cells computed before FAB-T joined kerobust's autoattack (they record none).
LEGACY_AUTOATTACK = f"APGD-CE, APGD-T and Square-{SQUARE_QUERIES} (cells computed before FAB-T joined the suite)"


def autoattack_members(attacks):
    """The members of the AutoAttack suite among `attacks`, as a cell records them: `APGD-CE-100, APGD-T-100 x9
    targets, FAB-T-100 x9 targets, Square-1000`."""
    suite = next(a for a in attacks if getattr(a, "members", None))
    return suite.describe().partition("(")[2].rpartition(")")[0]


def markdown_report(rows, profile):
    from kerobust.evaluation.report import markdown

    points = rows[0]["points"]
    lines = [f"# Certified training on digits (certcnn, width {profile.width})", "",
             f"{points} test points (one point = {100 / points:.2f} %). IBP and CROWN-IBP train at l-inf eps "
             f"{profile.cert_eps:g}, Lipschitz-margin at l2 eps {profile.lipschitz_eps:g}, each with a "
             f"{profile.warmup_epochs}-epoch natural warm-up and a {profile.ramp_epochs}-epoch "
             f"ramp over {profile.epochs} epochs; natural and PGD-10 (at {profile.pgd_eps:g}) training run "
             f"{profile.attack_epochs} epochs. Full CROWN: the first {profile.crown_points} test points only; "
             f"best: IBP, CROWN-IBP and Lipschitz per point. AutoAttack: "
             + "; ".join(sorted({row.get("autoattack", LEGACY_AUTOATTACK) for row in rows})) + ".",
             "", "## Accuracy under attack (l-inf, %)", ""]
    header = ["training", "clean"] + [f"{a} {e:g}" for e in ATTACK_EPS for a in ("PGD-20", "AutoAttack")] + ["train s"]
    lines.append(markdown(header, [[r["training"], f"{r['clean']:.1f}"]
                                   + [_attack(r, a, e) for e in ATTACK_EPS for a in ("pgd", "autoattack")]
                                   + [f"{r['train_seconds']:.0f}"] for r in rows]))
    lines += ["", "## Certified accuracy (%)", ""]
    header = ["training", "bound"] + [f"{n} {e:g}" for n, e in RADII]
    table = []
    for r in rows:
        for method in METHODS + ("best",):
            label = "best (not crown)" if method == "best" else method
            table.append([r["training"] if method == METHODS[0] else "", label]
                         + [f"{r['certified'][f'{method} {n} {e:g}']:.1f}" for n, e in RADII])
    lines.append(markdown(header, table))
    lines += ["", "Bounds: IBP (Gowal et al. 2018), CROWN-IBP (CROWN's backward pass over interval boxes, Zhang et al. "
              "2020), CROWN (full, Zhang et al. 2018), lipschitz (global l2 Lipschitz bound; an l-inf ball of radius "
              "eps lies in the l2 ball of radius 8 eps). Certification cost, seconds for all radii of a norm: "
              + "; ".join(f"{r['training']}: " + ", ".join(f"{k} {v:g}" for k, v in r["certify_seconds"].items())
                          for r in rows[-1:]) + "."]
    return "\n".join(lines)


STYLES = {"natural": ("o", "-"), "pgd": ("s", "--"), "ibp": ("^", "-."), "crown-ibp": ("D", ":"),
          "lipschitz-margin": ("v", (0, (5, 1, 1, 1, 1, 1)))}


def plot(rows, path):
    """Clean accuracy (radius 0) and certified accuracy at each l-inf radius, a line per training: each with its
    marker and line style, nudged sideways so that equal lines (natural and PGD training certify nothing) stay
    visible, with 95 % Wilson error bars."""
    from apps.significance import error_bars
    from kerobust.figures import png_figure

    radii = [e for n, e in RADII if n == "linf"]
    with png_figure(path, figsize=(7, 4.4)) as (figure, axis):
        for i, r in enumerate(rows):
            marker, style = STYLES.get(r["training"], ("o", "-"))
            shift = 0.0035 * (i - (len(rows) - 1) / 2)
            ys = [r["clean"]] + [r["certified"][f"best linf {e:g}"] for e in radii]
            axis.errorbar([x + shift for x in [0.0] + radii], ys, yerr=error_bars(ys, [r["points"]] * len(ys)),
                          marker=marker, linestyle=style, markersize=6, capsize=2, linewidth=1.4,
                          markerfacecolor="none" if i % 2 else None, color=f"C{i}", label=r["training"],
                          clip_on=False, zorder=3 + i % 2)
        axis.set_xticks([0.0] + radii, ["0\n(clean)"] + [f"{e:g}" for e in radii])
        axis.set_xlabel("l-inf radius eps ([0, 1] pixels)")
        axis.set_ylabel("certified accuracy (%; at 0: clean)\n(best of IBP, CROWN-IBP, Lipschitz per point)")
        axis.set_ylim(-3, 101)  # markers at 0 % stay whole
        axis.set_yticks(range(0, 101, 20))
        axis.grid(alpha=0.3)
        axis.legend(title="training", fontsize=8, title_fontsize=8)
        nothing = [r["training"] for r in rows if not any(r["certified"][f"best linf {e:g}"] for e in radii)]
        if nothing:
            axis.text(0.99, 0.08, f"{' and '.join(nothing)}: 0 % certified at every eps > 0", ha="right",
                      fontsize=8, transform=axis.transAxes)
        axis.set_title(f"Certified l-inf accuracy on {rows[0]['points']} digits test points "
                       "(radius 0: clean accuracy;\nerror bars: 95 % Wilson intervals; lines nudged sideways)",
                       fontsize=9)


def main(argv=None):
    parser = study_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke test: width 1, 3 epochs, 48 test points")
    parser.add_argument("--trainings", default=",".join(TRAININGS), help="comma list of " + ", ".join(TRAININGS))
    parser.add_argument("--out", default=None, help="default apps/results/certified_training (_quick with --quick)")
    parser.add_argument("--runs", default=None, help="run folders (default runs/certified_training)")
    args = parser.parse_args(argv)
    trainings = [t for t in args.trainings.split(",") if t]
    if not trainings or any(t not in TRAININGS for t in trainings):
        parser.error(f"--trainings must list some of {', '.join(TRAININGS)}")
    profile = PROFILES["quick" if args.quick else "digits"]
    suffix = "_quick" if args.quick else ""
    out = args.out or f"apps/results/certified_training{suffix}"
    runs = args.runs or f"runs/certified_training{suffix}"

    from kerobust.data import load_dataset
    from kerobust.errors import KerobustError
    from kerobust.evaluation.report import write_study

    try:
        dataset = load_dataset("digits")
        if profile.points:
            dataset = dataclasses.replace(dataset, x_test=dataset.x_test[:profile.points],
                                          y_test=dataset.y_test[:profile.points])
        rows = []
        for i, training in enumerate(trainings):
            print(f"[{i + 1}/{len(trainings)}] {training} training", flush=True)
            rows.append(run_row(profile, training, out, runs, dataset))
    except KerobustError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_study(out, "certified_training", markdown_report(rows, profile), rows, lambda path: plot(rows, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
