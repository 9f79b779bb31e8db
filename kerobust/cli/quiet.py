"""Keeps the frameworks' logs off the terminal, so that a user error is exactly one line (`--verbose` shows them).

TensorFlow's C++ runtime and absl write to file descriptor 2 directly (the oneDNN notice, CPU feature lines, XLA
service lines), before and regardless of `TF_CPP_MIN_LOG_LEVEL`. `quiet_frameworks` points descriptor 2 at
/dev/null and gives Python's `sys.stderr` a duplicate of the real one, so everything kerobust and Python print
(errors, tracebacks, warnings it keeps) still reaches the terminal; a fatal signal's Python trace does too.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import warnings

FRAMEWORK_MODULES = ("tensorflow", "keras", "keras_tuner", "absl", "jax", "tensorboard", "h5py", "tf_keras")


def quiet_frameworks() -> None:
    """Silences the frameworks' native and Python logs for the rest of the process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        real = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no descriptor 2 (a detached process): nothing reaches a terminal anyway
        return
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8", errors="backslashreplace")
    faulthandler.enable(file=sys.stderr)
    for name in FRAMEWORK_MODULES:
        logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module=rf"{name}(\.|$)")
    try:
        from absl import logging as absl_logging  # noqa: PLC0415 - only if absl is installed (TensorFlow's)

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
