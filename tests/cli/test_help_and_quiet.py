"""Every `--help` works without importing a framework, and the console script's errors are one line on stderr."""

import os
import subprocess
import sys

import pytest

COMMANDS = ["", "fit", "eval", "certify", "export", "norms", "bound", "tune"]
SCRIPT = os.path.join(os.path.dirname(sys.executable), "kerobust")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_exits_0_with_nothing_on_stderr_and_no_framework_imported(command):
    probe = (
        "import sys\nfrom kerobust.cli.main import main\n"
        f"argv = {[c for c in [command] if c] + ['--help']!r}\n"
        "try:\n    main(argv)\nexcept SystemExit as exit_:\n    code = exit_.code\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'matplotlib') if m in sys.modules)\n"
        "print('EXIT', code, 'HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    assert "usage: kerobust" in result.stdout
    assert result.stdout.strip().endswith("EXIT 0 HEAVY []")


def test_fit_help_lists_the_milestones_default():
    result = subprocess.run([SCRIPT, "fit", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ""
    assert "default 50%,75%" in " ".join(result.stdout.split())


@pytest.mark.parametrize("argv,message", [
    (["fit", "--arch", "wrm"], "unknown architecture 'wrm'"),
    (["eval", "--model", "missing.keras", "--data", "digits"], "model file 'missing.keras' does not exist"),
])
def test_the_console_script_prints_exactly_one_line_after_importing_tensorflow(argv, message):
    """The fit error comes after config validation imported the registries (and TensorFlow); the eval one after
    loading Keras: neither may let TensorFlow's C++ start-up lines through."""
    result = subprocess.run([SCRIPT, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_verbose_lets_the_framework_logs_through():
    result = subprocess.run([SCRIPT, "eval", "--verbose", "--model", "missing.keras", "--data", "digits"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_import_kerobust_registers_every_serialisable_class():
    probe = (
        "import kerobust, keras\n"
        "names = ['ConvNorm', 'LocalResponseNormalization', 'NoisyConv2D', 'SingularValueClip', "
        "'OperatorNormPenalty']\n"
        "print([keras.saving.get_registered_object('kerobust>' + n) is not None for n in names])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[True, True, True, True, True]", result.stderr[-2000:]


def test_apps_and_benchmarks_call_the_library_not_the_cli():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for folder in ("apps", "benchmarks"):
        for name in os.listdir(os.path.join(root, folder)):
            if name.endswith(".py"):
                with open(os.path.join(root, folder, name), encoding="utf-8") as handle:
                    assert "kerobust.cli" not in handle.read(), f"{folder}/{name} imports the CLI"
