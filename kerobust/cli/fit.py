"""`kerobust fit`: train a model adversarially, evaluate clean / FGSM / PGD accuracy, save and export it.

The job itself is `kerobust.experiment.run`; this module parses flags into a `FitConfig`, calls it and prints.
"""

from __future__ import annotations

import argparse
import sys

from kerobust.experiment.config import FIELDS, FitConfig, resolve_fit_config
from kerobust.experiment.options import help_by_group



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`kerobust fit`'s flags, one per `FitConfig` declaration, grouped as in `kerobust.experiment.options.GROUPS`."""
    parser.add_argument("--config", help="YAML file of defaults (flags override it)")
    parser.add_argument("--reevaluate", action="store_true",
                        help="evaluate and export a finished run again (shown, unchanged, without it); the training "
                             "figures are kept")
    for group, flags in help_by_group(FitConfig, with_defaults=True).items():
        section = parser.add_argument_group(f"{group} options")
        for flag, help_text in flags:
            section.add_argument(flag, help=help_text.replace("%", "%%"), default=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kerobust.experiment import run as fit_run

    flags = {k: v for k, v in vars(args).items() if k in FIELDS}
    config, explicit = resolve_fit_config(flags, args.config)
    result = fit_run(config, explicit, reevaluate=args.reevaluate)
    evaluation = result.evaluation
    if evaluation is None:  # a multi-worker task other than the chief
        return 0
    if not result.stored:  # a finished run shown again has printed its results
        headline = evaluation.headline(result.config.threat_norm, result.config.eval_eps)  # type: ignore[arg-type]
        if not result.config.autoattack:
            headline += "; --autoattack true adds the standard AutoAttack"
        print(f"Test accuracy on {evaluation.num_points} points: clean {100 * evaluation.clean_top1:.2f} %; "
              f"{headline}. By attack: "
              + ", ".join(f"{a.description or a.name} {100 * a.top1:.2f} %" for a in evaluation.reported_attacks())
              + f". Details: {result.metrics_path}")
    # (the ignores: a result with an evaluation has its metrics)
    if result.metrics.get("status") == "failed":  # type: ignore[union-attr]
        print(f"kerobust fit: {result.metrics['failure']}", file=sys.stderr)  # type: ignore[index]
        return 1
    return 0
