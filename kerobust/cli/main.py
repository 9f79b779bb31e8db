"""`kerobust` command line: sub-commands `fit`, `eval`, `norms` and `bound`. User errors print one line and exit with status 2."""

import argparse
import difflib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (with the nearest valid flag for a misspelt one), exit 2."""

    def error(self, message):
        if "unrecognized arguments" in message:
            flags = self._all_flags()
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], flags, n=1)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)

    def _all_flags(self):
        flags = []
        for action in self._actions:
            flags += action.option_strings
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    flags += parser._all_flags()
        return flags


def build_parser():
    from kerobust.cli import bound, evaluate, fit, norms

    parser = OneLineParser(prog="kerobust", description=__doc__.splitlines()[0], allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    fit.add_arguments(commands.add_parser("fit", help="train, attack, report and export a model", allow_abbrev=False))
    evaluate.add_arguments(commands.add_parser("eval", help="clean and adversarial accuracy of saved models", allow_abbrev=False))
    norms.add_arguments(commands.add_parser("norms", help="per-layer operator norms of saved models", allow_abbrev=False))
    bound.add_arguments(commands.add_parser("bound", help="lower bounds on the smallest adversarial perturbation",
                                            allow_abbrev=False))
    return parser


def main(argv=None):
    from kerobust.errors import KerobustError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except KerobustError as error:
        print(f"kerobust {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kerobust {args.command}: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
