"""Each `kerobust fit` option is declared once; flags, checks, help and the docs' table come from the declaration."""

import dataclasses
import pathlib
import subprocess
import sys

import pytest

from kerobust.errors import KerobustError
from kerobust.experiment.config import OPTIONS, FitConfig, convert_value, resolve_fit_config, validate
from kerobust.experiment.options import GROUPS, Range, markdown_table, with_table
from kerobust.values import whole

DOCS = pathlib.Path(__file__).parents[2] / "docs" / "fit.md"


@pytest.mark.smoke
def test_the_docs_flag_table_is_the_declarations():
    page = DOCS.read_text(encoding="utf-8")
    assert with_table(page, markdown_table(FitConfig)) == page, \
        "docs/fit.md is stale: run python -m kerobust.experiment.fit_docs docs/fit.md"
    for name in OPTIONS:
        assert f"`--{name.replace('_', '-')}`" in page


@pytest.mark.smoke
def test_every_option_is_declared_with_a_group_and_help():
    assert [f.name for f in dataclasses.fields(FitConfig)] == list(OPTIONS)
    assert all(declared.group in GROUPS and declared.help for declared in OPTIONS.values())
    assert all(any(d.group == group for d in OPTIONS.values()) for group in GROUPS)


@pytest.mark.smoke
def test_help_lists_every_flag_under_its_group():
    text = subprocess.run([sys.executable, "-m", "kerobust.cli.main", "fit", "--help"], capture_output=True,
                          text=True, check=True).stdout
    for group in GROUPS:
        assert f"{group} options:" in text
    assert "WideResNet widening factor; default 1" in text and "learning rate; default 0.001" in text
    positions = {name: text.index(f"  --{name.replace('_', '-')} ") for name in OPTIONS}
    for name, declared in OPTIONS.items():  # each flag sits below its own group's heading and above the next one
        heading = text.index(f"{declared.group} options:")
        later = [text.index(f"{g} options:") for g in GROUPS if text.index(f"{g} options:") > heading]
        assert heading < positions[name] < min(later, default=len(text))


@pytest.mark.parametrize("valid, inside, outside, message", [
    (Range(1), [1, 7], [0, -3], ">= 1"),
    (Range(0, open_low=True), [1e-9, 5], [0, -1], "> 0"),
    (Range(0, 1, open_high=True), [0, 0.999], [1, -0.1], "in [0, 1)"),
    (Range(0, 1, open_low=True), [1, 0.5], [0, 1.5], "in (0, 1]"),
    (Range(0, 2**31 - 1), [0, 2**31 - 1], [2**31, -1], "in [0, 2147483647]"),
])
def test_a_range_holds_exactly_its_interval(valid, inside, outside, message):
    assert all(valid.holds(v) for v in inside) and not any(valid.holds(v) for v in outside)
    assert valid.condition() == message


@pytest.mark.parametrize("name", [n for n, d in OPTIONS.items() if d.valid is not None])
def test_each_declared_range_is_enforced_at_its_edge(name):
    """Just outside the range is refused naming the option; the edge itself (when inclusive) is accepted."""
    from kerobust.training.method_rules import FAMILIES

    declared = OPTIONS[name]
    low = declared.valid.low
    as_value = (lambda v: [int(v)]) if declared.convert is OPTIONS["eval_steps"].convert else (lambda v: v)
    method = {"train_method": FAMILIES[declared.methods].methods[0]} if declared.methods else {}
    below = low - 1 if declared.convert in (whole, OPTIONS["eval_steps"].convert) else low - 0.5
    with pytest.raises(KerobustError) as error:
        validate(FitConfig(**{name: as_value(below)}, **method))
    assert f"{declared.label or name.replace('_', ' ')} must be" in str(error.value)
    if not declared.valid.open_low:
        validate(FitConfig(**{name: as_value(low)}, **method))


@pytest.mark.parametrize("flag, value, expected", [("eps", "8/255", 8 / 255), ("eval_steps", "10,20", [10, 20]),
                                                   ("free_box", "yes", True), ("data_dir", 5, "5")])
def test_values_convert_by_their_declaration(flag, value, expected):
    assert convert_value(flag, value) == expected


def test_family_options_belong_to_their_methods():
    with pytest.raises(KerobustError, match=r"--free-box is implemented for free training only"):
        resolve_fit_config({"train_method": "pgd", "free_box": "true"})
    with pytest.raises(KerobustError, match=r"--kappa-end is for certified training \(--train-method ibp / crown-ibp"):
        resolve_fit_config({"train_method": "pgd", "kappa_end": "0.5"})
    config, _ = resolve_fit_config({"train_method": "ibp", "kappa_end": "0.5"})
    assert config.kappa_end == 0.5
