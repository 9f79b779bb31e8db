"""`kerobust norms`: per-layer l1, l-inf and l2 operator norms of saved models, their products, JSON and a density plot
(Liang & Huang 2021, "Large Norms of CNN Layers Do Not Hurt Adversarial Robustness")."""

from __future__ import annotations

import argparse
import dataclasses
import os

from kerobust.values import convert, whole
from kerobust.errors import require
from kerobust.output_paths import add_overwrite_argument, check_outputs, stamped


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, action="append", help="a .keras file; repeat to compare models")
    parser.add_argument("--json", default=None, help="write the per-layer norms here")
    parser.add_argument("--plot", default=None, help="PNG of the norm distributions (one curve per model)")
    parser.add_argument("--power-iterations", default="0",
                        help="exact conv l2 by power iteration with at most N steps "
                             "(default 0: the eq. (3) bound of Liang & Huang 2021)")
    add_overwrite_argument(parser)
    parser.set_defaults(run=run)


def _cell(value):
    return "-" if value is None else f"{value:.4g}"


def run(args: argparse.Namespace) -> int:
    from kerobust.cli.evaluate import check_model_files

    iterations = convert("power iterations", args.power_iterations, whole)
    require(iterations >= 0, f"power iterations must be >= 0, got {iterations}.")
    check_model_files(args.model)
    check_outputs({"--json": args.json, "--plot": args.plot}, {"--model": args.model}, args.overwrite)
    import json

    from kerobust.atomic_files import write_text
    from kerobust.cli.evaluate import load_classifier
    from kerobust.evaluation.report import markdown
    from kerobust.norms import layer_norms, products

    rows_by_model = {}
    for path in args.model:
        rows = layer_norms(load_classifier(path), power_iterations=iterations)
        total = products(rows)
        rows_by_model[path] = (rows, total)
        table = [[r.name, r.kind, _cell(r.l1), _cell(r.linf), _cell(r.l2),
                  r.l2_method + (f" ({r.note})" if r.note else "")]
                 for r in rows]
        table.append(["product", "", _cell(total["l1"]), _cell(total["linf"]), _cell(total["l2"]), ""])
        print(f"{path}:")
        print(markdown(["layer", "kind", "l1", "l-inf", "l2", "l2 from"], table))
    if args.json:
        payload = {"models": {path: {"layers": [dataclasses.asdict(r) for r in rows], "products": total}
                              for path, (rows, total) in rows_by_model.items()}}
        write_text(args.json, json.dumps(stamped(payload), indent=2) + "\n")
    if args.plot:
        from kerobust.norms.distribution_plot import plot_norm_distributions

        names = [os.path.basename(p) for p in rows_by_model]
        labels = names if len(set(names)) == len(names) else list(rows_by_model)  # full paths where names repeat
        plot_norm_distributions(dict(zip(labels, (rows for rows, _ in rows_by_model.values()))), args.plot)
        print(f"Plot: {args.plot}")
    return 0
