"""`kerobust eval`: clean, FGSM and PGD accuracy (top-1 and top-5) of a saved `.keras` model on a test split."""

import argparse
import os

from kerobust.cli.fit_config import scaled_step
from kerobust.cli.values import convert, number, whole, whole_list
from kerobust.errors import KerobustError, require


def add_arguments(parser):
    parser.add_argument("--model", required=True, help="a .keras file (e.g. runs/<name>/model.keras)")
    parser.add_argument("--data", required=True, help="digits, cifar10, cifar100, mnist, fashion_mnist, svhn, npz:PATH")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--json", default=None, help="write the results here (metrics.json schema)")
    parser.add_argument("--threat-norm", default="linf", help="linf or l2")
    parser.add_argument("--eps", default=argparse.SUPPRESS, help="radius (default: the dataset's)")
    parser.add_argument("--steps", default=argparse.SUPPRESS, help="PGD step counts, e.g. 10,20")
    parser.add_argument("--step-size", default=argparse.SUPPRESS, help="PGD step size")
    parser.add_argument("--batch-size", default="256", help="evaluation batch size")
    parser.add_argument("--seed", default="0", help="attack seed")
    parser.set_defaults(run=run)


def load_classifier(path):
    """Loads a `.keras` model saved by kerobust (or any Keras 3 classifier); one-line errors for bad paths."""
    import keras

    import kerobust.models  # noqa: F401  (registers kerobust's serialisable objects)

    if not os.path.exists(path):
        raise KerobustError(f"model file {path!r} does not exist.")
    if not path.endswith(".keras"):
        raise KerobustError(f"model {path!r} must be a .keras file (the SavedModel is for serving).")
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for unreadable files
        raise KerobustError(f"model file {path!r} cannot be loaded: {str(error).splitlines()[0]}") from None


def run(args):
    eps = convert("eps", getattr(args, "eps", None), number)
    steps = convert("steps", getattr(args, "steps", None), whole_list)
    step_size = convert("step size", getattr(args, "step_size", None), number)
    batch_size = convert("batch size", args.batch_size, whole)
    seed = convert("seed", args.seed, whole)
    require(eps is None or eps >= 0, f"eps must be >= 0, got {eps}.")
    require(not steps or min(steps) >= 1, f"steps must be >= 1, got {steps}.")
    require(batch_size >= 1, f"batch size must be >= 1, got {batch_size}.")
    from kerobust.attacks.lp_geometry import check_norm
    from kerobust.data.registry import load_dataset, threat_model_for

    check_norm(args.threat_norm)
    threat = threat_model_for(args.data)
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        require(os.access(parent, os.W_OK), f"cannot write --json {args.json!r}: folder {parent!r} is not writable.")
    classifier = load_classifier(args.model)
    dataset = load_dataset(args.data, args.data_dir)
    if tuple(classifier.input_shape[1:]) != dataset.input_shape:
        raise KerobustError(f"model {args.model!r} takes inputs {classifier.input_shape[1:]}, {args.data} has {dataset.input_shape}.")

    from kerobust.evaluation import evaluate_robustness, format_table, standard_attacks, write_metrics

    if step_size is None and eps is not None and args.threat_norm == "linf":
        step_size = scaled_step(threat.eval_step_size, eps, threat.eps)
    attacks = standard_attacks(threat, eps=eps, steps=steps, step_size=step_size, norm=args.threat_norm)
    result = evaluate_robustness(classifier, dataset.x_test, dataset.y_test, attacks, batch_size=batch_size, seed=seed)
    print(format_table({classifier.name: result}))
    if args.json:
        write_metrics(args.json, result, dataset=dataset.name, model=args.model)
    return 0
