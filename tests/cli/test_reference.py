"""The command-line reference page, docs/cli.md, is generated from the parser; these tests keep it so."""

import argparse
import pathlib
import subprocess
import sys

import pytest

from kerobust.cli.main import build_parser
from kerobust.cli.reference import main, render

DOCS = pathlib.Path(__file__).parents[2] / "docs" / "cli.md"


@pytest.mark.smoke
def test_the_docs_cli_page_is_the_parser():
    assert DOCS.read_text(encoding="utf-8") == render(), \
        "docs/cli.md is stale: run python -m kerobust.cli.reference docs/cli.md"


@pytest.mark.smoke
def test_every_command_and_flag_is_on_the_page():
    page = render()
    parser = build_parser()
    for name, command in parser.commands.items():
        assert f"## `kerobust {name}`" in page
        if name == "fit":  # its flags are on docs/fit.md
            continue
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert f"`{action.option_strings[0]}`" in page, (name, action.option_strings)
    assert "(fit.md)" in page and "fit.md#model" in page  # tune's fit flags link to their group on the fit page


@pytest.mark.smoke
def test_help_text_is_rendered_as_help_prints_it():
    parser = argparse.ArgumentParser(prog="kerobust")
    commands = parser.add_subparsers()
    fit = commands.add_parser("fit", help="train")
    fit.add_argument_group("model options").add_argument("--k", help="width")
    probe = commands.add_parser("probe", help="a | b", description="Probe.")
    probe.add_argument("--share", default="0.5", help="share in %% of <points> | all (default %(default)s)")
    probe.add_argument("--model", required=True, help="a model")
    probe.add_argument("--quick", action="store_true", help="small")
    probe.add_argument_group("model options").add_argument("--k", help="width")
    parser.commands = commands.choices  # as kerobust.cli.main sets it

    page = render(parser)
    assert "| `--share` | `0.5` | share in % of &lt;points> \\| all (default 0.5) |" in page
    assert "| `--model` | required | a model |" in page and "| `--quick` | off | small |" in page
    assert "kerobust probe --model MODEL [options]" in page
    assert "[`kerobust fit` options, Model](fit.md#model)" in page
    assert "%%" not in page


def test_main_writes_the_page(tmp_path):
    target = tmp_path / "cli.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render()
    printed = subprocess.run([sys.executable, "-m", "kerobust.cli.reference"], capture_output=True, text=True,
                             check=True).stdout
    assert printed == render()
