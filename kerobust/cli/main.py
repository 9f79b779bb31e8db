"""`kerobust` command line: sub-commands `fit`, `eval`, `certify`, `export`, `norms`, `bound` and `tune`.
User errors print one line and exit with status 2.

Parsing imports no framework, so `--help` and flag errors return at once; the sub-command's `run` imports what it
needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from kerobust.one_line_parser import OneLineParser


def build_parser() -> OneLineParser:
    from kerobust.cli import bound, certify, evaluate, export, fit, norms, tune

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show TensorFlow, JAX and absl log lines (hidden by default)")
    parser = OneLineParser(prog="kerobust", description=__doc__.splitlines()[0], allow_abbrev=False, parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module, name, summary in (
        (fit, "fit", "train, attack, report and export a model"),
        (evaluate, "eval", "clean and adversarial accuracy of saved models"),
        (certify, "certify", "certified accuracy by IBP, CROWN, Lipschitz bounds or randomised smoothing"),
        (export, "export", "a saved model as a SavedModel with serving and certify signatures"),
        (norms, "norms", "per-layer operator norms of saved models"),
        (bound, "bound", "lower bounds on the smallest adversarial perturbation"),
        (tune, "tune", "KerasTuner search over fit settings (e.g. --k 1,2,4) with a robust objective"),
    ):
        module.add_arguments(commands.add_parser(
            name, help=summary,
            description=module.__doc__.split("\n\n")[0],  # type: ignore[union-attr]  # each command has a docstring
            allow_abbrev=False,
            parents=[common],  # type: ignore[list-item]  # typeshed wants a OneLineParser; any parser is a parent
        ))
    parser.commands = commands.choices
    return parser


SUPPORTED_BACKENDS = ("tensorflow", "jax")


def main(argv: Sequence[str] | None = None, quiet: bool = False) -> int:
    """Runs one sub-command; returns its exit status. `quiet`: hide the frameworks' logs unless `--verbose` (the
    console script's way; in-process callers keep their own stderr)."""
    from kerobust.errors import KerobustError
    from kerobust.output_paths import writing_as

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # suggestions from the chosen sub-command's own flags
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    from kerobust.distribution import configured_backend

    backend = configured_backend()
    if backend not in SUPPORTED_BACKENDS:
        print(f"kerobust {args.command}: error: KERAS_BACKEND is {backend!r}; kerobust runs on "
              f"{' or '.join(SUPPORTED_BACKENDS)} (e.g. KERAS_BACKEND=tensorflow).", file=sys.stderr)
        return 2
    from kerobust.allocator import keep_freed_memory

    keep_freed_memory()
    if quiet and not getattr(args, "verbose", False):
        from kerobust.cli.quiet import quiet_frameworks

        quiet_frameworks()
    try:
        with writing_as(args.command):
            return args.run(args) or 0
    except KerobustError as error:
        print(f"kerobust {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kerobust {args.command}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


def console() -> NoReturn:
    """The `kerobust` console script."""
    sys.exit(main(quiet=True))


if __name__ == "__main__":
    console()
