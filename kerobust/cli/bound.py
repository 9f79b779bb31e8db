"""`kerobust bound`: per-sample lower bounds on the smallest adversarial l2 perturbation of a saved model (Peck 2017,
"Robustness of Classifiers to Adversarial Perturbations", MSc thesis, Ghent University), summarised as in the thesis's
Table 5.1, optionally checked against attacks, with a histogram plot."""

from __future__ import annotations

import argparse

import numpy as np

from kerobust.cli.devices import add_distribution_arguments, check_distribution_flags, sharded
from kerobust.errors import require
from kerobust.output_paths import add_overwrite_argument, check_outputs, stamped
from kerobust.values import convert, number_list, whole



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .keras file")
    parser.add_argument("--data", required=True, help="digits, cifar10, mnist, ... or npz:PATH (its test split)")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--mode", default="sound", help="sound (valid bounds) or thesis (the rules of Peck 2017)")
    parser.add_argument("--cert-eps", default=None,
                        help="l2 radii of the certified shares, e.g. 0.05,0.1 (default 0.05,0.1,0.25,0.5)")
    parser.add_argument("--points", default="0", help="test points (0: all)")
    parser.add_argument("--check", default="none", help="none or attacks: FGS line search and PGD-l2, violations")
    parser.add_argument("--dtype", default="float32", help="float32 or float64")
    parser.add_argument("--json", default=None, help="write the summary and per-sample bounds here")
    parser.add_argument("--plot", default=None, help="PNG histogram of the bounds (and attack perturbations)")
    add_overwrite_argument(parser)
    add_distribution_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kerobust.catalog import BOUND_MODES, check_name
    from kerobust.cli.evaluate import check_model_files, data_input

    check_name("bound mode", args.mode, BOUND_MODES)
    require(args.check in ("none", "attacks"), f"--check must be none or attacks, got {args.check!r}.")
    require(args.dtype in ("float32", "float64"), f"--dtype must be float32 or float64, got {args.dtype!r}.")
    eps_values = None if args.cert_eps is None else convert("cert eps", args.cert_eps, number_list)
    require(eps_values is None or (eps_values and all(e >= 0 for e in eps_values)),
            f"cert eps must be >= 0, got {args.cert_eps!r}.")
    points = convert("points", args.points, whole)
    require(points >= 0, f"points must be >= 0, got {points}.")
    replicas = check_distribution_flags(args)
    check_model_files(args.model)
    check_outputs({"--json": args.json, "--plot": args.plot}, {"--model": args.model, "--data": data_input(args.data)},
                  args.overwrite)
    from kerobust.atomic_files import write_json  # the first framework import: every check above is instant
    from kerobust.bounds import BoundEvaluator
    from kerobust.bounds.lipschitz.attack_check import fgs_line_search, pgd_l2_search, violations
    from kerobust.bounds.lipschitz.summary import DEFAULT_EPS, bounds_and_summary, input_size
    from kerobust.cli.evaluate import model_and_test_points
    from kerobust.evaluation.report import markdown

    eps_values = eps_values or list(DEFAULT_EPS)
    with sharded(args, replicas) as distribution:
        model, dataset, x, y = model_and_test_points(args.model, args.data, args.data_dir, points)
        evaluator = BoundEvaluator(model, args.mode, dtype=args.dtype)
        bounds, summarised = bounds_and_summary(evaluator, model, x, y, eps_values)
        searches = (fgs_line_search(model, x), pgd_l2_search(model, x)) if args.check == "attacks" else None
    result = {"mode": args.mode, "model": args.model, "data": dataset.name, "dtype": args.dtype, **summarised,
              "distribution": distribution.record()}
    rows = [[f"{args.mode} bound", f"{result['mean']:.4g}", f"{result['median']:.4g}", f"{result['min']:.4g}",
             f"{result['max']:.4g}", f"{result['normalised_mean']:.4g}"]]
    header = ["", "mean", "median", "min", "max", "normalised mean"]
    found = None
    if searches is not None:
        fgs, pgd = searches
        found = np.minimum(fgs, pgd)
        result["attacks"] = {}
        header += ["points perturbed", "bounds above it"]
        rows[0] += ["-", "-"]
        for name, norms in (("fgs", fgs), ("pgd_l2", pgd), ("best", found)):
            flipped = np.isfinite(norms)
            mean = float(np.mean(norms[flipped])) if flipped.any() else float("nan")
            bad = violations(bounds, norms)
            result["attacks"][name] = {"mean": mean, "rate": float(flipped.mean()),
                                       "normalised_mean": mean / input_size(x)}
            rows.append([f"{name} perturbation", f"{mean:.4g}",
                         f"{np.median(norms[flipped]):.4g}" if flipped.any() else "-",
                         f"{np.min(norms):.4g}", f"{np.max(norms[flipped]):.4g}" if flipped.any() else "-",
                         f"{result['attacks'][name]['normalised_mean']:.4g}", f"{100 * flipped.mean():.2f} %",
                         str(len(bad))])
        result["violations"] = bad.tolist()  # against the best of both attacks (the loop's last row)
    print(f"{args.model} on {dataset.name} ({len(x)} test points), {args.mode} mode:")
    print(markdown(header, rows))
    print(markdown(["l2 eps", "bound >= eps", "certified accuracy"], [
        [key, f"{100 * value['share']:.2f} %", f"{100 * value['accuracy']:.2f} %"]
        for key, value in result["certified"].items()
    ]))
    if found is not None and len(result["violations"]):
        kind = ("a bug: please report it" if args.mode == "sound"
                else "expected of the thesis's rules (docs/bounds.md section 8)")
        print(f"{len(result['violations'])} violations (bound above a perturbation that changes the decision): {kind}.")
    if args.json:
        write_json(args.json, stamped({**result, "bounds": bounds.tolist()}))
    if args.plot:
        _plot(bounds, found, args.mode, args.plot)
        print(f"Plot: {args.plot}")
    return 0


def _plot(bounds, found, mode, path):
    from kerobust.figures import png_figure

    with png_figure(path, figsize=(6, 3.5)) as (figure, axis):
        values = [np.log10(np.maximum(bounds, 1e-30))]
        labels = [f"{mode} bound"]
        if found is not None and np.isfinite(found).any():
            values.append(np.log10(found[np.isfinite(found)]))
            labels.append("smallest attack perturbation")
        axis.hist(values, bins=40, label=labels, alpha=0.8)
        axis.set_xlabel("log10 of the l2 norm (input units)")
        axis.set_ylabel("test points")
        axis.legend(fontsize=8)
