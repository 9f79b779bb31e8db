"""Training methods on digits: natural, the adversarial methods (PGD, TRADES, ALP, MART, PGD and TRADES with AWP) and
the certified ones (IBP, CROWN-IBP, SABR, MTL-IBP, each with and without Shi et al.'s fast initialisation, and
Lipschitz-margin training) of Gowal et al.'s small CNN, scored by clean, PGD-20 and AutoAttack accuracy and by certified
accuracy under the best of the sound bounds per point.

Rows are trainings (`ROWS`). The verifier takes, per point, the best of the sound bounds IBP, CROWN-IBP and the
Lipschitz bound, each after the first run only on the points the ones before left uncertified
(`kerobust.evaluation.certification.tightest_margins`). Full CROWN, a backward pass per neuron, is left out: on the
width-8 network it did not finish the ~30 points IBP leaves uncertified at one radius in 10 minutes on 2 CPU cores.
PGD-20 and AutoAttack run on the points no bound certified at their radius (no attack can break a certified point), so
that a certified row's attacks cost a tenth of an adversarial row's.
Lipschitz-margin training (Tsuzuku et al. 2018) trains at l2 radius `lipschitz_eps`, the others at l-inf. Finished rows
are kept under OUT/cells/ and read back when the study runs again with the same settings.

    python -m apps.certified_training            # hours on 2 CPU cores; --trainings picks rows
    python -m apps.certified_training --quick    # a smoke test: few epochs, 48 test points
"""

import dataclasses
import os
import sys
import time


from apps.study_options import names, run_study, study_parser  # noqa: E402
from kerobust.catalog import CERTIFIED  # noqa: E402
from kerobust.training.method_rules import AWP_GAMMA  # noqa: E402 - Wu et al. 2020's gamma


@dataclasses.dataclass(frozen=True)
class Row:
    """One training of the study: `fit --train-method method`, with `--awp awp` and `--ibp-init ibp_init`."""

    name: str
    method: str
    awp: float = 0.0
    ibp_init: bool = False

    @property
    def certified(self):
        return self.method in CERTIFIED


ROWS = {row.name: row for row in (
    Row("natural", "natural"), Row("pgd", "pgd"), Row("trades", "trades"), Row("alp", "alp"), Row("mart", "mart"),
    Row("pgd+awp", "pgd", awp=AWP_GAMMA), Row("trades+awp", "trades", awp=AWP_GAMMA),
    *(Row(f"{method}{'+init' if init else ''}", method, ibp_init=init)
      for method in ("ibp", "crown-ibp", "sabr", "mtl-ibp") for init in (False, True)),
    Row("lipschitz-margin", "lipschitz-margin"))}
TRAININGS = tuple(ROWS)
LINF_RADII = (0.1, 0.15, 0.2)
RADII = tuple(("linf", eps) for eps in LINF_RADII) + (("l2", 0.25), ("l2", 0.5))
VERIFIERS = ("ibp", "crown-ibp", "lipschitz")  # cheapest first
SQUARE_QUERIES = 1000  # Square inside AutoAttack (5000 takes 10 minutes per row on 2 CPU cores)


def attack_radii(row):
    """AutoAttack and PGD-20 radii of a row: the certified rows also at 0.15, between their certified radii."""
    return LINF_RADII if row.certified else (0.1, 0.2)


@dataclasses.dataclass(frozen=True)
class Profile:
    """Settings of every row. The certified rows train at `cert_eps`, the largest radius they are scored at (IBP with
    the fast initialisation trained at 0.2 certified 66.7 % at 0.2 and 90.0 % at 0.1; at 0.3, 67.5 % and 85.0 % with
    4.2 points less clean accuracy), the adversarial ones at digits' standard 0.2. Width 8: the width of the earlier
    study, which its certified rows fit in minutes."""

    width: int = 8
    epochs: int = 60  # certified rows; natural and the adversarial rows converge in `attack_epochs`
    attack_epochs: int = 30
    batch_size: int = 32
    cert_eps: float = 0.2
    cert_steps: int = 5  # PGD steps of SABR's and MTL-IBP's attacks
    lipschitz_eps: float = 0.3  # l2, Lipschitz-margin training
    pgd_eps: float = 0.2
    warmup_epochs: int = 1
    ramp_epochs: int = 30
    lr: float = 1e-3
    points: int = 0
    seed: int = 0


PROFILES = {"digits": Profile(), "quick": Profile(width=1, epochs=3, attack_epochs=3, cert_steps=2, warmup_epochs=0,
                                                 ramp_epochs=1, points=48)}


def fit_config(profile, row, run_dir):
    from kerobust.experiment import FitConfig

    l2 = row.method == "lipschitz-margin"
    eps = profile.lipschitz_eps if l2 else profile.cert_eps if row.certified else profile.pgd_eps
    return FitConfig(
        arch="certcnn", width=profile.width, data="digits", train_method=row.method,
        epochs=profile.epochs if row.certified else profile.attack_epochs, threat_norm="l2" if l2 else "linf",
        batch_size=profile.batch_size, eps=eps, eval_eps=eps if l2 else 0.1, awp=row.awp, ibp_init=row.ibp_init,
        steps=profile.cert_steps if row.method in ("sabr", "mtl-ibp") else None,
        eval_steps=[20], cert_warmup_epochs=profile.warmup_epochs if row.certified else None,
        cert_ramp_epochs=profile.ramp_epochs if row.certified else None, lr=profile.lr, val_points=0,
        diagnostics_points=0, seed=profile.seed, run_dir=run_dir, export=False,
    )


def cell_settings(profile, row):
    """What a cell was computed with: the profile and the row's training."""
    return {"profile": dataclasses.asdict(profile), "row": dataclasses.asdict(row)}


def run_row(profile, row, out, runs, dataset):
    """Trains, attacks and certifies one row, or reads it back."""
    import json

    import numpy as np

    from kerobust.atomic_files import write_json
    from kerobust.attacks.predictions import predict_batches
    from kerobust.errors import KerobustError
    from kerobust.evaluation import evaluate_robustness
    from kerobust.evaluation.attack_specs import AttackOptions, build_attacks, parse_attack_list
    from kerobust.evaluation.certification import tightest_margins
    from kerobust.experiment import run

    path = os.path.join(out, "cells", f"{row.name}.json")
    settings = cell_settings(profile, row)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            cell = json.load(handle)
        if cell.get("settings") != settings:
            raise KerobustError(f"{path} was computed with other settings ({cell.get('settings')}); "
                                "pass another --out.")
        return cell
    result = run(fit_config(profile, row, os.path.join(runs, row.name)), dataset=dataset)
    model, x, y = result.classifier, dataset.x_test, dataset.y_test
    cell = {"training": row.name, "train_seconds": round(result.train_seconds, 1), "points": len(x),
            "status": result.metrics.get("status"), "description": result.metrics.get("train_method"),
            "clean": 100 * float(np.mean(np.argmax(predict_batches(model, x), axis=1) == y)), "attacks": {},
            "attacked_points": {}, "attack_seconds": {}, "certified": {}, "decided_by": {}, "certify_seconds": {},
            "settings": settings, "run_dir": result.run_dir}
    certified = {}
    for norm in dict.fromkeys(norm for norm, _ in RADII):
        started = time.perf_counter()
        radii = [eps for n, eps in RADII if n == norm]
        for eps, (margins, decided_by) in zip(radii, tightest_margins(model, x, y, norm, radii, VERIFIERS)):
            key = f"{norm} {eps:g}"
            certified[key] = margins > 0
            cell["certified"][key] = 100 * float(np.mean(certified[key]))
            cell["decided_by"][key] = {method: decided_by.count(method) for method in VERIFIERS}
        cell["certify_seconds"][norm] = round(time.perf_counter() - started, 1)
    for eps in attack_radii(row):
        attacks = build_attacks(parse_attack_list("pgd-20,autoattack"), eps,
                                AttackOptions(norm="linf", square_queries=SQUARE_QUERIES))
        cell["autoattack"] = autoattack_members(attacks)
        proved = certified[f"linf {eps:g}"]  # no attack can break a certified point: attacked are the others
        cell["attacked_points"][f"{eps:g}"] = int(np.sum(~proved))
        started = time.perf_counter()
        robust = {attack.name: 0 for attack in attacks}
        if np.any(~proved):
            found = evaluate_robustness(model, x[~proved], y[~proved], attacks, seed=profile.seed)
            robust = {attack.name: attack.top1 * np.sum(~proved) for attack in found.attacks}
        for name, count in robust.items():
            cell["attacks"][f"{name}@{eps:g}"] = 100 * float(np.sum(proved) + count) / len(x)
        cell["attack_seconds"][f"{eps:g}"] = round(time.perf_counter() - started, 1)
    write_json(path, cell)
    return cell


def _attack(row, name, eps):
    key = next((k for k in row["attacks"] if k.lower().startswith(name) and k.endswith(f"@{eps:g}")), None)
    return "-" if key is None else f"{row['attacks'][key]:.1f}"


def autoattack_members(attacks):
    """The members of the AutoAttack suite among `attacks`, as a cell records them: `APGD-CE-100, APGD-T-100 x9
    targets, FAB-T-100 x9 targets, Square-1000`."""
    suite = next(a for a in attacks if getattr(a, "members", None))
    return suite.describe().partition("(")[2].rpartition(")")[0]


def markdown_report(rows, profile, missing=()):
    """The study's tables: accuracy under attack, certified accuracy by the best bound per point, and which bound
    certified the points."""
    from kerobust.evaluation.report import markdown

    points = rows[0]["points"]
    lines = [f"# Training methods on digits (certcnn, width {profile.width})", "",
             f"{points} test points (one point = {100 / points:.2f} %). The adversarial rows train "
             f"{profile.attack_epochs} epochs at l-inf {profile.pgd_eps:g} (PGD-10; AWP gamma {AWP_GAMMA:g}); the "
             f"certified rows {profile.epochs} epochs at l-inf {profile.cert_eps:g} (Lipschitz-margin: l2 "
             f"{profile.lipschitz_eps:g}) after a {profile.warmup_epochs}-epoch natural warm-up, eps ramped over "
             f"{profile.ramp_epochs} epochs; SABR's and MTL-IBP's attacks take {profile.cert_steps} PGD steps; "
             "+init: Shi et al.'s (2021) initialisation and warm-up regularisers. AutoAttack: "
             + "; ".join(sorted({row["autoattack"] for row in rows})) + "; the attacks run on the points no bound "
             "certified at their radius (a certified point counts as robust)."]
    if missing:
        lines += ["", "Not yet computed: " + ", ".join(missing) + "."]
    lines += ["", "## Accuracy under attack (l-inf, %)", ""]
    header = ["training", "clean"] + [f"{a} {e:g}" for e in LINF_RADII for a in ("PGD-20", "AutoAttack")] + ["train s"]
    lines.append(markdown(header, [[r["training"], f"{r['clean']:.1f}"]
                                   + [_attack(r, a, e) for e in LINF_RADII for a in ("pgd", "autoattack")]
                                   + [f"{r['train_seconds']:.0f}"] for r in rows]))
    lines += ["", "## Certified accuracy (%)", ""]
    header = ["training"] + [f"{n} {e:g}" for n, e in RADII] + ["certify s"]
    lines.append(markdown(header, [[r["training"]] + [f"{r['certified'][f'{n} {e:g}']:.1f}" for n, e in RADII]
                                   + [f"{sum(r['certify_seconds'].values()):.0f}"] for r in rows]))
    lines += ["", "## Points each bound certified first", ""]
    header = ["training"] + [f"{n} {e:g}" for n, e in RADII]
    lines.append(markdown(header, [[r["training"]] + [_decided(r, f"{n} {e:g}") for n, e in RADII] for r in rows]))
    lines += ["", "Certified: per point the best of IBP (Gowal et al. 2018), CROWN-IBP (Zhang et al. 2020) and the "
              "global l2 Lipschitz bound (an l-inf ball of radius eps lies in the l2 ball of radius 8 eps), each run "
              "on the points the ones before it left uncertified. Full CROWN (Zhang et al. 2018) is left out: on this "
              "network it takes minutes per point on 2 CPU cores."]
    return "\n".join(lines)


def _decided(row, radius):
    return ", ".join(f"{method} {count}" for method, count in row["decided_by"][radius].items() if count) or "-"


METHOD_MARKERS = {"natural": "o", "pgd": "s", "trades": "P", "alp": "X", "mart": "*", "ibp": "^", "crown-ibp": "D",
                  "sabr": "v", "mtl-ibp": "<", "lipschitz-margin": ">"}


def style(row):
    """(marker, line style) of a row: the method's marker, dashed with AWP or the fast initialisation."""
    return METHOD_MARKERS[row.method], "--" if row.awp or row.ibp_init else "-"


def plot(rows, path):
    """Left: certified accuracy by the best bound per point at each l-inf radius (radius 0: clean accuracy) of the rows
    that certify anything; right: AutoAttack accuracy at each radius of every row. Each row has its method's marker,
    dashed with AWP or the fast initialisation; 95 % Wilson error bars."""
    from apps.significance import error_bars
    from kerobust.figures import png_figure

    with png_figure(path, 1, 2, figsize=(12, 5)) as (figure, (certified, attacked)):
        for i, r in enumerate(rows):
            marker, line = style(ROWS[r["training"]])
            radii = attack_radii(ROWS[r["training"]])
            panels = [(attacked, radii, [r["attacks"][f"autoattack@{e:g}"] for e in radii])]
            if any(r["certified"][f"linf {e:g}"] for e in LINF_RADII):
                panels.append((certified, LINF_RADII, [r["certified"][f"linf {e:g}"] for e in LINF_RADII]))
            for axis, xs, ys in panels:
                ys = [r["clean"]] + ys
                axis.errorbar([0.0, *xs], ys, yerr=error_bars(ys, [r["points"]] * len(ys)), marker=marker,
                              linestyle=line, markersize=6, capsize=2, linewidth=1.2, color=f"C{i % 10}",
                              markerfacecolor="none" if i >= 10 else None, label=r["training"], clip_on=False)
        for axis, what in ((certified, "certified accuracy (%; best of IBP,\nCROWN-IBP and Lipschitz per point)"),
                           (attacked, "AutoAttack accuracy (%)")):
            axis.set_xticks([0.0, *LINF_RADII], ["0\n(clean)"] + [f"{e:g}" for e in LINF_RADII])
            axis.set_xlabel("l-inf radius eps ([0, 1] pixels)")
            axis.set_ylabel(what)
            axis.set_ylim(-3, 101)
            axis.set_yticks(range(0, 101, 20))
            axis.grid(alpha=0.3)
            axis.legend(title="training", fontsize=7, title_fontsize=8, ncol=2)
        certified.set_title("Certified accuracy of the rows that certify any point", fontsize=9)
        attacked.set_title(f"Accuracy under AutoAttack, {rows[0]['points']} digits test points "
                           "(error bars: 95 % Wilson intervals)", fontsize=9)


def main(argv=None):
    parser = study_parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke test: width 1, 3 epochs, 48 test points")
    parser.add_argument("--trainings", default=",".join(TRAININGS), help="comma list of " + ", ".join(TRAININGS))
    parser.add_argument("--out", default=None, help="default apps/results/certified_training (_quick with --quick)")
    parser.add_argument("--runs", default=None, help="run folders (default runs/certified_training)")
    args = parser.parse_args(argv)
    trainings = names(parser, "--trainings", args.trainings, TRAININGS)
    profile = PROFILES["quick" if args.quick else "digits"]
    suffix = "_quick" if args.quick else ""
    out = args.out or f"apps/results/certified_training{suffix}"
    runs = args.runs or f"runs/certified_training{suffix}"

    from kerobust.data import load_dataset
    from kerobust.evaluation.report import write_study

    dataset = load_dataset("digits")
    if profile.points:
        dataset = dataclasses.replace(dataset, x_test=dataset.x_test[:profile.points],
                                      y_test=dataset.y_test[:profile.points])
    rows, missing = [], []
    for name in TRAININGS:  # the chosen rows, and the other rows' finished cells, in the study's order
        if name in trainings:
            print(f"[{trainings.index(name) + 1}/{len(trainings)}] {name}", flush=True)
        elif not os.path.exists(os.path.join(out, "cells", f"{name}.json")):
            missing.append(name)
            continue
        rows.append(run_row(profile, ROWS[name], out, runs, dataset))
    write_study(out, "certified_training", markdown_report(rows, profile, missing), rows,
                lambda path: plot(rows, path))
    return 0


if __name__ == "__main__":
    sys.exit(run_study(main))
