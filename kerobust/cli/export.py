"""`kerobust export`: a saved model as a SavedModel with serving and certifying signatures, or as ONNX.

SavedModel signatures (images: float32 in [0, 1], shape [None, H, W, C]): `serving_default` -> logits,
probabilities, class; `certify` -> class, certified, margin_lower_bound, certified_radius at the run's evaluation eps
(or --eps); `certify_at_radius` -> the same at a given scalar `radius`. It serves with TensorFlow alone; check it with
`saved_model_cli show --dir OUT --all`. ONNX (`--format onnx`, Keras's exporter): `images` -> `logits`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from kerobust.box_radius import check_radius
from kerobust.catalog import THREAT_NORMS, check_name
from kerobust.errors import require
from kerobust.output_paths import add_overwrite_argument, check_outputs
from kerobust.values import convert, number

FORMATS = ("saved_model", "onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a .keras file (e.g. runs/<name>/model.keras)")
    parser.add_argument("--out", required=True, help="the SavedModel folder to write (one that kerobust export wrote "
                                                     "is replaced atomically; another SavedModel needs --overwrite; "
                                                     "any other folder is refused), or the .onnx file")
    parser.add_argument("--format", default="saved_model", help="saved_model (the default) or onnx (the forward pass "
                                                                "only, checked with onnxruntime; needs "
                                                                "kerobust[onnx])")
    parser.add_argument("--threat-norm", default=None, help="linf or l2: the certify signatures' ball (default: the "
                                                            "run's, from config.yaml beside the model, else linf)")
    parser.add_argument("--eps", default=None, help="the certify signature's radius (default: the run's evaluation "
                                                    "eps from config.yaml beside the model, in the run's norm; "
                                                    "without one, no certify)")
    add_overwrite_argument(parser)
    parser.set_defaults(run=run)


def run_settings(model_path: str) -> tuple[Any, Any]:
    """`(threat_norm, eval_eps)` of the run folder holding `model_path`, or `(None, None)`."""
    from kerobust.experiment.run_folder import read_run_config

    config = read_run_config(os.path.dirname(os.path.abspath(model_path)),
                             "pass --threat-norm and --eps yourself (it lies beside the model)")
    if config is None:
        return None, None
    return config.get("threat_norm"), config.get("eval_eps", config.get("eps"))


def run(args: argparse.Namespace) -> int:
    """Checks every flag and the output path before TensorFlow loads, then exports."""
    from kerobust.cli.evaluate import check_model_files

    check_name("export format", args.format, FORMATS)
    check_model_files(args.model)
    if args.format == "onnx":
        return run_onnx(args)
    eps = convert("eps", args.eps, number)
    require(eps is None or eps >= 0, f"eps must be >= 0, got {eps}.")
    out = os.path.abspath(args.out)
    check_outputs({"--out": args.out}, {"--model": args.model}, args.overwrite, folders=("--out",))
    run_norm, run_eps = run_settings(args.model) if args.threat_norm is None or eps is None else (None, None)
    norm = check_name("threat norm", args.threat_norm or run_norm or "linf", THREAT_NORMS)
    if eps is None and norm == run_norm:  # the run's radius only in the run's own norm
        eps = convert("run eps", run_eps, number)
        require(eps is None or eps >= 0, f"the run's eval eps must be >= 0, got {eps}.")
    check_radius("eps", eps, norm)
    import numpy as np

    from kerobust.cli.evaluate import load_classifier
    from kerobust.export import export_saved_model

    model = load_classifier(args.model)
    check_radius("eps", eps, norm, int(np.prod(model.input_shape[1:])))
    probe = np.random.default_rng(0).uniform(size=(8, *model.input_shape[1:])).astype("float32")
    error, certification = export_saved_model(model, out, probe, norm, eps)
    print(f"kerobust export: {args.model} -> {args.out} (logits within {error:.1e} of the Keras model)")
    print("  serving_default: images -> logits, probabilities, class")
    if isinstance(certification, list):
        print(f"  certify: images -> class, certified, margin_lower_bound, certified_radius at {norm} eps {eps:g} "
              f"(best of {', '.join(certification)})")
        print(f"  certify_at_radius: images, radius -> the same at a {norm} radius")
    else:
        print(f"  no certify signature: {certification}")
    print(f"  inspect: saved_model_cli show --dir {args.out} --all")
    return 0


def run_onnx(args: argparse.Namespace) -> int:
    require(args.eps is None and args.threat_norm is None,
            "--eps and --threat-norm set the SavedModel's certify signatures; an ONNX export has none.")
    require(not os.path.isdir(args.out),
            f"--out {args.out!r} is a folder; an ONNX export is one file, e.g. model.onnx.")
    check_outputs({"--out": args.out}, {"--model": args.model}, args.overwrite)
    import numpy as np

    from kerobust.cli.evaluate import load_classifier
    from kerobust.export import export_onnx
    from kerobust.export.onnx import require_onnx_tools

    require_onnx_tools()
    model = load_classifier(args.model)
    probe = np.random.default_rng(0).uniform(size=(8, *model.input_shape[1:])).astype("float32")
    error = export_onnx(model, args.out, probe)
    print(f"kerobust export: {args.model} -> {args.out} (ONNX; logits within {error:.1e} of the Keras model in "
          "onnxruntime)")
    print("  images: float32 [N, H, W, C] in [0, 1] -> logits [N, classes]")
    return 0
