"""`kerobust certify`: certified accuracy of a saved model by IBP, CROWN, the global Lipschitz bound or randomised
smoothing, per method and radius, beside its clean accuracy; per-point margin lower bounds in the JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from kerobust.box_radius import check_radius
from kerobust.cli.devices import add_distribution_arguments, check_distribution_flags, sharded
from kerobust.errors import require
from kerobust.output_paths import add_overwrite_argument, check_outputs, stamped
from kerobust.values import convert, number, number_list, whole

if TYPE_CHECKING:
    from kerobust.evaluation.certifiers import SmoothingSettings

METHOD_HELP = ("comma list of ibp (interval bounds), crown-ibp (linear relaxation over interval boxes), crown (full "
               "linear relaxation, tighter, costlier), lipschitz (global "
               "Lipschitz bound) and smoothing (Cohen et al.'s randomised smoothing, l2, probabilistic)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .keras file (e.g. runs/<name>/model.keras)")
    parser.add_argument("--data", required=True, help="digits, cifar10, mnist, ... or npz:PATH (its test split)")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--method", default="ibp,crown", help=METHOD_HELP + " (default ibp,crown)")
    parser.add_argument("--threat-norm", default="linf", help="linf or l2")
    parser.add_argument("--eps", default="0.1", help="radii in pixel units, e.g. 0.05,0.1 (default 0.1)")
    parser.add_argument("--points", default="0", help="first N test points (0: all)")
    parser.add_argument("--batch-size", default=None, help="points per bound batch (default: by method and memory)")
    parser.add_argument("--sigma", default="0.25", help="smoothing: noise standard deviation (default 0.25)")
    parser.add_argument("--samples", default="1000", help="smoothing: noisy samples n of the estimate (default 1000)")
    parser.add_argument("--selection-samples", default="100", help="smoothing: samples n0 that pick the class (100)")
    parser.add_argument("--alpha", default="0.001", help="smoothing: failure probability of each certificate (0.001)")
    parser.add_argument("--json", default=None, help="write {\"results\": [...]} with per-point margin lower bounds")
    add_overwrite_argument(parser)
    add_distribution_arguments(parser)
    parser.set_defaults(run=run)


def parse_request(args: argparse.Namespace) -> tuple[list[str], str, list[float], int, int | None, SmoothingSettings]:
    """(methods, threat norm, eps values, points, batch size, SmoothingSettings) from the flags: one-line errors."""
    from kerobust.evaluation.certification import SmoothingSettings, check_request

    methods = [m.strip() for m in args.method.split(",") if m.strip()]
    require(methods and len(set(methods)) == len(methods), f"--method needs distinct names, got {args.method!r}.")
    eps_values = convert("eps", args.eps, number_list)
    check_request(methods, args.threat_norm, eps_values)
    check_radius("eps", max(eps_values), args.threat_norm)
    points = convert("points", args.points, whole)
    require(points >= 0, f"points must be >= 0, got {points}.")
    batch_size = convert("batch size", args.batch_size, whole)
    require(batch_size is None or batch_size >= 1, f"batch size must be >= 1, got {batch_size}.")
    smoothing = SmoothingSettings(sigma=convert("sigma", args.sigma, number),
                                  samples=convert("samples", args.samples, whole),
                                  selection_samples=convert("selection samples", args.selection_samples, whole),
                                  alpha=convert("alpha", args.alpha, number))
    if "smoothing" in methods:
        smoothing.check()
    return methods, args.threat_norm, eps_values, points, batch_size, smoothing


def run(args: argparse.Namespace) -> int:
    from kerobust.catalog import CERTIFY_METHODS, THREAT_NORMS, check_name
    from kerobust.cli.evaluate import check_model_files, data_input, model_and_test_points

    for method in args.method.split(","):  # the names at once; parse_request checks the rest
        if method.strip():
            check_name("certification method", method.strip(), CERTIFY_METHODS)
    check_name("threat norm", args.threat_norm, THREAT_NORMS)
    check_radius("eps", max(convert("eps", args.eps, number_list) or [0]), args.threat_norm)
    check_distribution_flags(args)
    check_model_files(args.model)
    check_outputs({"--json": args.json}, {"--model": args.model, "--data": data_input(args.data)}, args.overwrite)
    import numpy as np

    from kerobust.atomic_files import write_json
    from kerobust.evaluation.certification import certify
    from kerobust.evaluation.report import markdown

    methods, norm, eps_values, points, batch_size, smoothing = parse_request(args)
    replicas = check_distribution_flags(args)
    with sharded(args, replicas) as distribution:
        model, dataset, x, y = model_and_test_points(args.model, args.data, args.data_dir, points)
        check_radius("eps", max(eps_values), norm, int(np.prod(dataset.input_shape)))
        print(f"kerobust certify: {args.model} on {len(x)} {dataset.name} test points, {norm} radii "
              + ", ".join(f"{e:g}" for e in eps_values))
        results = certify(model, x, y, methods, norm, eps_values, smoothing, batch_size, progress=_progress())
    rows = [[r["method"], r["threat_norm"], f"{r['eps']:g}", f"{100 * r['certified_accuracy']:.2f} %",
             f"{100 * r['clean_accuracy']:.2f} %"] for r in results]
    print(markdown(["method", "threat norm", "eps", "certified accuracy", "clean accuracy"], rows))
    smoothed = next((r for r in results if r["method"] == "smoothing"), None)
    if smoothed is not None:
        print(f"smoothing certifies the smoothed classifier (sigma {smoothing.sigma:g}, {smoothing.samples} samples): "
              f"probabilistic, each certificate fails with probability at most {smoothing.alpha:g}; "
              f"{smoothed['abstentions']} abstentions, smoothed accuracy {100 * smoothed['smoothed_accuracy']:.2f} %.")
    if args.json:
        write_json(args.json, stamped({"model": args.model, "data": dataset.name, "points": len(x), "results": results,
                               "distribution": distribution.record()}))
        print(f"JSON: {args.json}")
    return 0


def _progress():
    """A progress bar per method on stderr as the bounds come in: a live bar on a terminal, plain lines in a log."""
    import sys

    from kerobust.progress import PlainProgress, is_terminal

    if not is_terminal(sys.stderr):
        lines = {}

        def log(method, done, total):
            line = lines.setdefault(method, PlainProgress(total, "bounds", label=method, stream=sys.stderr))
            line.update(done)

        return log

    def report(method, done, total):
        filled = int(30 * done / max(total, 1))
        print(f"\r{method:>9} [{'=' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr,
              flush=True)
        if done >= total:
            print(file=sys.stderr)

    return report
