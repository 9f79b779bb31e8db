"""`kerobust eval`: clean and adversarial accuracy (top-1 and top-5) of saved `.keras` models on a test split,
over a list of attacks and radii, with gradient-masking checks, a sweep plot and a RobustBench-style summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import zipfile
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from kerobust.cli.devices import add_distribution_arguments, check_distribution_flags, sharded
from kerobust.attack_list import parse_attack_list
from kerobust.box_radius import check_radius
from kerobust.catalog import THREAT_NORMS, check_dataset_name, check_name
from kerobust.errors import KerobustError, require
from kerobust.experiment.config import PROBE_POINTS, SEED_LIMIT
from kerobust.output_paths import add_overwrite_argument, check_outputs
from kerobust.values import convert, number, number_list, whole, whole_list

if TYPE_CHECKING:
    import keras

    from kerobust.data.dataset import Dataset
    from kerobust.types import Array


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, action="append",
                        help="a .keras file (e.g. runs/<name>/model.keras); repeat to compare models")
    parser.add_argument("--data", required=True, help="digits, cifar10, cifar100, mnist, fashion_mnist, svhn, npz:PATH")
    parser.add_argument("--data-dir", default=None, help="tfds data directory")
    parser.add_argument("--json", default=None, help="write the results here (metrics.json schema)")
    parser.add_argument("--plot", default=None,
                        help="PNG of accuracy against eps (default with --json and several eps: next to it)")
    parser.add_argument("--threat-norm", default="linf", help="linf or l2")
    parser.add_argument("--eval-eps", default=argparse.SUPPRESS,
                        help="attack radii, e.g. 0.1 or 2/255,4/255,8/255 (default: the dataset's)")
    parser.add_argument("--attacks", default=None,
                        help="e.g. fgsm,pgd-20,apgd-ce,apgd-dlr,apgd-t,fab,fab-t,square-1000, or an AutoAttack "
                             "version: autoattack (standard: APGD-CE, APGD-T, FAB-T, Square-5000), autoattack-plus, "
                             "autoattack-rand (default: FGSM and PGD)")
    parser.add_argument("--min-norm", action="store_true",
                        help="also find each point's smallest adversarial perturbation with FAB-T (100 steps, the "
                             "--targets classes) and print the robust accuracy over eps it gives (an upper bound); "
                             "with --json, a PNG of that curve beside it (<json>_min_norm.png)")
    parser.add_argument("--eval-steps", default=argparse.SUPPRESS,
                        help="PGD step counts of the default attacks, e.g. 10,20")
    parser.add_argument("--eval-step-size", default=argparse.SUPPRESS,
                        help="PGD step size at the first eval eps (scaled with eps)")
    parser.add_argument("--restarts", default="1",
                        help="random restarts of pgd, apgd-ce, apgd-dlr and fab (the AutoAttack versions set theirs)")
    parser.add_argument("--targets", default=None,
                        help="target classes of APGD-T and FAB-T (default: 9, or the classes - 1)")
    parser.add_argument("--eot", default="1", help="gradient samples per step for randomised models (EOT)")
    parser.add_argument("--square-queries", default="5000", help="Square queries inside the autoattack suite")
    parser.add_argument("--points", default=None, help="evaluate the first N test points (default: all)")
    parser.add_argument("--diagnostics-points", default=str(PROBE_POINTS),
                        help="points of the gradient-masking probe (0: off)")
    parser.add_argument("--batch-size", default="256", help="evaluation batch size")
    parser.add_argument("--seed", default="0", help="attack seed")
    add_overwrite_argument(parser)
    add_distribution_arguments(parser)
    parser.set_defaults(run=run)


def check_model_files(paths: str | Iterable[str]) -> None:
    """One-line errors, before any framework loads, for `--model` paths that cannot be `.keras` files."""
    for path in [paths] if isinstance(paths, str) else paths:
        check_model_file(path)


def check_model_file(path: str) -> None:
    """A one-line error unless `path` looks like a `.keras` file (it exists, is a file, and is a zip archive)."""
    if not os.path.exists(path):
        raise KerobustError(f"model file {path!r} does not exist.")
    if os.path.isdir(path):
        raise KerobustError(f"model {path!r} is a folder; pass the .keras file (e.g. runs/<name>/model.keras).")
    if not path.endswith(".keras"):
        raise KerobustError(f"model {path!r} must be a .keras file (the SavedModel is for serving).")
    if not zipfile.is_zipfile(path):
        raise KerobustError(f"model file {path!r} is damaged (a .keras file is a zip archive; this one is not, or is "
                            "cut short).")


def load_classifier(path: str) -> keras.Model:
    """Loads a `.keras` model saved by kerobust (or any Keras 3 classifier); one-line errors for bad paths, damaged
    files and layer classes Keras does not know."""
    import keras

    import kerobust

    check_model_file(path)
    kerobust.register_all()
    unknown = _unregistered_classes(path)
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise KerobustError(f"model file {path!r} uses the class{'es' if len(unknown) > 1 else ''} {names}, which "
                            "Keras does not know here: decorate it with @keras.saving.register_keras_serializable() "
                            "in a module, and load the model from Python after importing that module.")
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many types for unreadable files
        raise KerobustError(f"model file {path!r} cannot be loaded: {str(error).splitlines()[0]}") from None


def _unregistered_classes(path):
    """The class names in a .keras file's config that neither Keras nor a registration resolves."""
    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile):
        return []  # left to Keras's own message
    unknown = []

    def visit(node):
        if isinstance(node, dict):
            name = str(node.get("registered_name") or node.get("class_name") or "")
            module = str(node.get("module") or "")
            if name and not name.startswith("__") and not module.startswith(("keras", "builtins")):
                if keras.saving.get_registered_object(name) is None and name not in unknown:
                    unknown.append(name)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    return unknown


def check_model_fits(classifier: keras.Model, dataset: Dataset, path: str) -> None:
    """A one-line error unless `classifier` takes `dataset`'s images and has one output per class."""
    inputs = tuple(classifier.input_shape[1:])
    if inputs != tuple(dataset.input_shape):
        raise KerobustError(f"model {path!r} takes inputs of shape {inputs}; "
                            f"{dataset.name} has {tuple(dataset.input_shape)}.")
    outputs = classifier.output_shape
    if len(outputs) != 2 or outputs[-1] != dataset.num_classes:
        raise KerobustError(f"model {path!r} outputs {outputs[1:]} logits; "
                            f"{dataset.name} has {dataset.num_classes} classes.")


def model_and_test_points(model_path: str, data: str, data_dir: str | None,
                          points: int | None) -> tuple[keras.Model, Dataset, Array, Array]:
    """`(model, dataset, x, y)`: a saved classifier checked against the dataset, and its first `points` test points
    (all when 0 or None)."""
    from kerobust.data.registry import load_dataset

    model = load_classifier(model_path)
    dataset = load_dataset(data, data_dir)
    check_model_fits(model, dataset, model_path)
    x, y = dataset.x_test, dataset.y_test
    if points:
        x, y = x[:points], y[:points]
    return model, dataset, x, y


def data_input(data: str) -> str | None:
    """The file that `--data` reads (`npz:PATH`), as an input no output may replace."""
    return data[4:] if data.startswith("npz:") else None


def _titles(paths, classifiers):
    """Column titles: the model names, or the file paths where names repeat."""
    names = [c.name for c in classifiers]
    return names if len(set(names)) == len(names) else list(paths)


def run(args: argparse.Namespace) -> int:
    eps_list = convert("eval eps", getattr(args, "eval_eps", None), number_list)
    steps = convert("eval steps", getattr(args, "eval_steps", None), whole_list)
    step_size = convert("eval step size", getattr(args, "eval_step_size", None), number)
    counts = {key: convert(key.replace("_", " "), getattr(args, key), whole)
              for key in ("restarts", "targets", "eot", "square_queries", "diagnostics_points", "batch_size", "seed")}
    points = convert("points", args.points, whole)
    require(eps_list is None or (eps_list and min(eps_list) >= 0), f"eval eps must be >= 0, got {eps_list}.")
    require(not steps or min(steps) >= 1, f"eval steps must be >= 1, got {steps}.")
    require(step_size is None or step_size > 0, f"eval step size must be > 0, got {step_size}.")
    require(counts["batch_size"] >= 1, f"batch size must be >= 1, got {counts['batch_size']}.")
    for key in ("restarts", "eot", "square_queries"):
        require(counts[key] >= 1, f"{key.replace('_', ' ')} must be >= 1, got {counts[key]}.")
    require(counts["diagnostics_points"] >= 0, f"diagnostics points must be >= 0, got {counts['diagnostics_points']}.")
    require(0 <= counts["seed"] <= SEED_LIMIT, f"seed must be in [0, {SEED_LIMIT}], got {counts['seed']}.")
    require(points is None or points >= 1, f"points must be >= 1, got {points}.")
    replicas = check_distribution_flags(args)
    norm = check_name("threat norm", args.threat_norm, THREAT_NORMS)
    check_radius("eval eps", max(eps_list or [0]), norm)
    specs = parse_attack_list(args.attacks) if args.attacks is not None else None
    check_dataset_name(args.data)
    check_model_files(args.model)
    check_outputs({"--json": args.json, "--plot": _plot_path(args, eps_list), "--min-norm plot": _min_norm_plot(args)},
                  {"--model": args.model, "--data": data_input(args.data)}, args.overwrite)
    from kerobust.data.registry import threat_model_for  # the first framework import: every check above is instant

    threat = threat_model_for(args.data)
    with sharded(args, replicas) as distribution:
        return _evaluate(args, norm, eps_list, steps, step_size, counts, points, specs, threat, distribution)


def _evaluate(args, norm, eps_list, steps, step_size, counts, points, specs, threat, distribution):
    from kerobust.data.registry import load_dataset
    from kerobust.data.threat_model import scaled_step
    from kerobust.evaluation.attack_specs import AttackOptions, build_attacks

    classifiers = [load_classifier(path) for path in args.model]
    dataset = load_dataset(args.data, args.data_dir)
    for path, classifier in zip(args.model, classifiers):
        check_model_fits(classifier, dataset, path)
    check_radius("eval eps", max(eps_list or [0]), norm, int(np.prod(dataset.input_shape)))
    if counts["targets"] is None:
        counts["targets"] = min(9, dataset.num_classes - 1)
    require(1 <= counts["targets"] <= dataset.num_classes - 1, f"--targets must be in [1, {dataset.num_classes - 1}] "
            f"({dataset.name} has {dataset.num_classes} classes), got {counts['targets']}.")

    from kerobust.evaluation import evaluate_robustness, format_table, standard_attacks
    from kerobust.evaluation.masking import diagnose

    eps_list = eps_list or [threat.radius(norm)]
    if step_size is None:
        step_size = threat.evaluation_step(eps_list[0], norm)
    options = AttackOptions(norm=norm, restarts=counts["restarts"], targets=counts["targets"],
                            eot_samples=counts["eot"], square_queries=counts["square_queries"])
    attacks = []
    for eps in eps_list:
        scaled = scaled_step(step_size, eps, eps_list[0]) if step_size else None  # the step follows eps in a sweep
        if specs is None:
            attacks += standard_attacks(threat, eps=eps, steps=steps, step_size=scaled, norm=norm)
        else:
            attacks += build_attacks(specs, eps, dataclasses.replace(options, step_size=scaled))
    x, y = dataset.x_test[:points], dataset.y_test[:points]
    results = {}
    for title, classifier in zip(_titles(args.model, classifiers), classifiers):
        print(f"kerobust eval: {title} on {len(x)} {dataset.name} test points: "
              + "; ".join(a.describe() for a in attacks))
        result = evaluate_robustness(classifier, x, y, attacks, batch_size=counts["batch_size"], seed=counts["seed"])
        diagnose(classifier, x, y, result, norm, eps_list[0], points=counts["diagnostics_points"], seed=counts["seed"])
        results[title] = result
    print(format_table(results))
    for title, result in results.items():
        for eps in eps_list:
            print(f"{title}: {result.headline(norm, eps)}")
    _report_sweep(args, results, eps_list)
    minimal = _minimal_perturbations(args, classifiers, results, x, y, norm, eps_list, counts) if args.min_norm else {}
    if args.json:
        _write_json(args, dataset.name, norm, eps_list[0], results, distribution, minimal, min_norm_radii(eps_list))
    plot = _min_norm_plot(args)
    if plot:  # after the JSON: a failed drawing loses no result
        from kerobust.evaluation.min_norm import plot_curve

        plot_curve(minimal, plot, marks=eps_list)
        print(f"Plot: {plot}")
    return 0


def min_norm_radii(eps_list: list[float]) -> list[float]:
    """The radii of the min-norm curve: the eval eps and 1/4, 1/2, 3/4, 3/2 and 2 times the first."""
    radii = {float(e) for e in eps_list} | {eps_list[0] * r for r in (0.25, 0.5, 0.75, 1.5, 2.0)}
    return sorted({float(f"{eps:.6g}") for eps in radii})


def _minimal_perturbations(args, classifiers, results, x, y, norm, eps_list, counts):
    from kerobust.evaluation.min_norm import format_curve, minimal_perturbations

    found = {}
    for title, classifier in zip(results, classifiers):
        print(f"kerobust eval: {title}: the smallest adversarial perturbation of each of {len(x)} points (FAB-T)")
        found[title] = minimal_perturbations(classifier, x, y, norm, targets=counts["targets"],
                                             batch_size=counts["batch_size"], seed=counts["seed"])
    first = next(iter(found.values()))
    print(f"Robust accuracy (%) over {norm} eps from the smallest perturbations {first.attack} found (an upper bound "
          "at each eps; one run answers every radius):")
    print(format_curve(found, min_norm_radii(eps_list)))
    return found


def _min_norm_plot(args):
    """With --min-norm and --json, the PNG of the min-norm curve beside the JSON."""
    return os.path.splitext(args.json)[0] + "_min_norm.png" if args.min_norm and args.json else None


def _report_sweep(args, results, eps_list):
    from kerobust.evaluation.sweep import format_sweep_table, plot_sweep

    if len(eps_list) > 1:
        print(format_sweep_table(results))
    plot = _plot_path(args, eps_list)
    if plot:
        plot_sweep(results, plot, title=f"{args.data}, {args.threat_norm}: top-1 accuracy against eps")
        print(f"Plot: {plot}")


def _plot_path(args, eps_list):
    """`--plot`, or with `--json` and several eps a PNG beside the JSON."""
    if args.plot is None and args.json and len(eps_list or []) > 1:
        return os.path.splitext(args.json)[0] + "_eps_sweep.png"
    return args.plot


def _write_json(args, dataset, norm, eps, results, distribution, minimal, radii):
    import json

    from kerobust.atomic_files import write_text
    from kerobust.evaluation.summary import robustbench_summary
    from kerobust.output_paths import stamped

    entries = [
        dict(result.to_json(), model=path, title=title, dataset=dataset, threat_norm=norm,
             robustbench=robustbench_summary(result, dataset, norm, eps), distribution=distribution.record(),
             **({"min_norm": minimal[title].to_json(radii)} if title in minimal else {}))
        for path, (title, result) in zip(args.model, results.items())
    ]
    payload = entries[0] if len(entries) == 1 else {"dataset": dataset, "threat_norm": norm, "models": entries}
    write_text(args.json, json.dumps(stamped(payload), indent=2) + "\n")
