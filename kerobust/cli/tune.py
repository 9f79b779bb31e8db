"""`kerobust tune`: a KerasTuner search over fit settings, each trial a full run folder, with a robust objective.

A fit flag given a comma list (`--k 1,2,4`) or a whole-number range (`--k 1..5`) is searched over; given one value it
stays fixed. `--run-dir` is the search folder, which holds each trial's run folder as `trial_<id>/`. The search is
`kerobust.tuning.fit_search`; this module parses, calls and prints.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from kerobust.cli import fit
from kerobust.errors import require
from kerobust.experiment.config import FIELDS, convert_value, is_whole_number_field, resolve_fit_config
from kerobust.values import convert, number, whole

OBJECTIVE_HELP = ("val_robust_accuracy (PGD on the validation split), val_autoattack_accuracy (the standard "
                  "AutoAttack there, with Square-1000), certified_accuracy (sound bounds at --cert-eps) or "
                  "robust_accuracy_per_second")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    fit.add_arguments(parser)  # its --run-dir is the search folder here (default searches/<arch>_<data>)
    parser.add_argument("--tuner", default="grid",
                        help="grid, random, bayesian or hyperband (budgets up to --epochs, factor 3)")
    parser.add_argument("--max-trials", default=None, help="trial budget (grid: default every combination)")
    parser.add_argument("--objective", default="val_robust_accuracy", help=OBJECTIVE_HELP)
    parser.add_argument("--cert-eps", default="0.05", help="l2 radius of the certified_accuracy objective")
    parser.add_argument("--every-trial", default="objective",
                        help="objective: each trial trains and is evaluated, and only the best gets the "
                             "gradient-masking probe and the SavedModel; full: every trial does all that fit does")
    parser.set_defaults(run=run)


def _values(key, text):
    """The list of values a flag searches over: `a,b,c`, or `lo..hi` for whole numbers."""
    text = str(text).strip()
    if ".." in text:
        require(is_whole_number_field(key), f"{key}: a range lo..hi is for whole numbers; list the values "
                                            f"instead, e.g. --{key.replace('_', '-')} 1e-3,3e-3,1e-2.")
        low, _, high = text.partition("..")
        low, high = convert(key, low, whole), convert(key, high, whole)
        require(low <= high, f"{key}: the range {text!r} is empty.")
        return list(range(low, high + 1))
    return [convert_value(key, item) for item in text.split(",") if item.strip()]


def split_space(flags: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """`(fixed, space)`: the flags with one value, and `{field: [values]}` for those given several."""
    fixed, space = {}, {}
    for key, value in flags.items():
        if key in ("milestones", "eval_steps", "run_dir", "data", "data_dir") or not isinstance(value, str):
            fixed[key] = value
            continue
        values = _values(key, value)
        if len(values) > 1:
            space[key] = values
        else:
            fixed[key] = value
    return fixed, space


def run(args: argparse.Namespace) -> int:
    from kerobust.tuning import fit_search

    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    fixed, space = split_space(flags)
    require(args.every_trial in ("objective", "full"),
            f"--every-trial must be objective or full, got {args.every_trial!r}.")
    require(space, "nothing to search over: give at least one flag several values, e.g. --k 1,2,4 or --k 1..5.")
    out = fixed.pop("run_dir", None)  # the search folder; each trial's run folder is inside it
    base, _ = resolve_fit_config(fixed, args.config)
    for key, values in space.items():  # every searched value must be valid on its own, before any trial runs
        for value in values:
            resolve_fit_config({**fixed, key: value}, args.config)
    max_trials = convert("max trials", args.max_trials, whole)
    require(max_trials is None or max_trials >= 1, f"max trials must be >= 1, got {max_trials}.")
    cert_eps = convert("cert eps", args.cert_eps, number)
    out = out or os.path.join("searches", f"{base.arch}_{base.data.replace('npz:', 'npz-').replace(os.sep, '_')}")
    rows = fit_search(base, space, out, tuner=args.tuner, objective=args.objective, max_trials=max_trials,
                      cert_eps=cert_eps, every_trial=args.every_trial)
    if not rows:  # a worker of a distributed search: the chief writes the summary
        print(f"kerobust tune: worker finished; the chief writes {out}/trials.json.")
        return 0
    with open(os.path.join(out, "trials.md"), encoding="utf-8") as handle:
        print(handle.read().rstrip())
    best = next((row for row in rows if row["status"] == "COMPLETED"), None)
    if best is not None:
        print(f"Best trial {best['trial_id']} ({best['hyperparameters']}): {args.objective} {best['objective']:.4f}. "
              f"Search folder {out}: trials.json, trials.md, pareto.png, best/ (model.keras, saved_model/), "
              "trial_<id>/ (each trial's run folder)")
    return 0

