"""What every study script's command line shares: a profile (`--profile`, `--quick`), the data folder, and where its
results and runs go; one-line answers to bad arguments; and the dataset cut to the profile's test points."""

import argparse
import dataclasses
import sys


def study_parser(doc, **options):
    """The study's argument parser: one-line errors with exit status 2, as `kerobust`'s own; its description is the
    first paragraph of the study's docstring `doc`, its name the command that runs it (`python -m apps.<study>`)."""
    import os

    from kerobust.one_line_parser import OneLineParser

    options.setdefault("prog", f"python -m apps.{os.path.splitext(os.path.basename(sys.argv[0]))[0]}")
    return OneLineParser(description=" ".join(doc.strip().split("\n\n")[0].split()), **options)


def stored_rows(path):
    """The rows a study wrote to `path` (its JSON), for `--report-only`, which measures nothing; None, after a
    one-line error, when the file is missing (the study then exits with status 2)."""
    import json
    import os

    if not os.path.exists(path):
        print(f"error: --report-only needs {path}; run without it to measure", file=sys.stderr)
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def positive(text):
    """An argparse type: a whole number >= 1 (an untrained network or an empty test set tabulates nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def names(parser, flag, text, valid):
    """The comma list `text` of `flag`, each one of `valid` (one line naming the nearest valid name otherwise)."""
    from kerobust.errors import unknown_name

    chosen = [name for name in str(text).split(",") if name]
    if not chosen:
        parser.error(f"{flag} must list some of {', '.join(valid)}")
    for name in chosen:
        if name not in valid:
            parser.error(f"{flag}: {unknown_name('name', name, valid)}")
    return chosen


def run_study(main):
    """Runs a study's `main`, answering a user error (`KerobustError`) in one line with exit status 2."""
    from kerobust.allocator import keep_freed_memory
    from kerobust.errors import KerobustError

    keep_freed_memory()
    try:
        return main()
    except KerobustError as error:
        print(f"{sys.argv[0]}: error: {error}", file=sys.stderr)
        return 2


def add_study_arguments(parser, profiles, out_help, runs_help=None):
    """Adds `--profile` (the non-quick `profiles`, the first the default), `--quick`, `--data-dir`, `--out` and, with
    `runs_help`, `--runs`."""
    names = [name for name in profiles if name != "quick"]
    parser.add_argument("--profile", choices=names, default=names[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test of the whole script: tiny networks, few "
                                                             "epochs, few test points")
    parser.add_argument("--data-dir", default=None, help="tfds data folder (profiles other than digits)")
    parser.add_argument("--out", default=None, help=out_help)
    if runs_help:
        parser.add_argument("--runs", default=None, help=runs_help)


def chosen(args, profiles):
    """`(profile, suffix)`: the quick profile under `--quick`, else `--profile`'s; the suffix of its default folders
    (none for the first profile, `_quick`, or `_PROFILE`)."""
    first = next(name for name in profiles if name != "quick")
    suffix = "_quick" if args.quick else "" if args.profile == first else f"_{args.profile}"
    return profiles["quick" if args.quick else args.profile], suffix


def load_test_subset(name, data_dir, points):
    """Dataset `name` with its test split cut to the first `points` (0: all of it)."""
    from kerobust.data import load_dataset

    dataset = load_dataset(name, data_dir)
    if points:
        dataset = dataclasses.replace(dataset, x_test=dataset.x_test[:points], y_test=dataset.y_test[:points])
    return dataset
