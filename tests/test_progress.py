"""Progress output: plain lines without ANSI escape codes when the output is not a terminal, throttled, always with
the last line; the evaluation and `certify` progress use it."""

import io
import subprocess
import sys


from kerobust.progress import PlainProgress


def test_plain_progress_throttles_and_always_writes_the_last_line():
    stream = io.StringIO()
    progress = PlainProgress(5, "batch", label="eval", every_seconds=3600, stream=stream)
    for step in range(1, 6):
        progress.update(step, [("clean", 0.5 + step / 10)])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eval 5/5 batch - ") and lines[0].endswith("clean: 1.0000")


def test_evaluation_progress_in_a_log_has_no_escape_codes(natural_digits_net, digits, capsys):
    from kerobust.attacks import PGD
    from kerobust.evaluation import evaluate_robustness

    evaluate_robustness(natural_digits_net, digits.x_test[:64], digits.y_test[:64], [PGD(eps=0.1, steps=2)],
                        batch_size=32, progress=True)
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\b" not in out and "2/2 batch" in out and "clean:" in out


def test_certify_progress_in_a_redirected_stderr_is_plain_lines(natural_digits_net, tmp_path):
    path = tmp_path / "net.keras"
    natural_digits_net.save(path)
    run = subprocess.run([sys.executable, "-m", "kerobust.cli.main", "certify", "--model", str(path),
                          "--data", "digits", "--method", "ibp", "--eps", "0.01", "--points", "40"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr and "\x1b" not in run.stderr and "ibp 40/40 bounds" in run.stderr
    assert "certified accuracy" in run.stdout
