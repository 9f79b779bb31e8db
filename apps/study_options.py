"""What every study script's command line shares: a profile (`--profile`, `--quick`), the data folder, and where its
results and runs go; and the dataset cut to the profile's test points."""

import dataclasses


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
