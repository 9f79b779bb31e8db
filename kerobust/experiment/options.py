"""How a `FitConfig` option is declared: its converter, help text, group, valid names and range, in one place.

Each field of `FitConfig` is declared once with `option(...)`; the `kerobust fit` flags, the YAML keys, the
converters, `--help` (grouped as a user thinks of them), the per-field checks and the flag table of `docs/fit.md`
all come from these declarations. Imports no framework, so `kerobust fit --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from kerobust.values import boolean, number, whole, whole_list

GROUPS = ("model", "data", "training", "threat model", "evaluation", "output and runtime")
Converter = Callable[[Any], Any]


def text(value: Any) -> str:
    """A string option's converter (a YAML number given for a name becomes its text)."""
    return str(value)


def path(value: Any) -> str:
    """A file-system path option's converter."""
    return str(value)


def _shown(bound: float | None) -> str:
    return str(int(bound)) if bound is not None and bound == int(bound) else f"{bound:g}"


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric option's valid range: `low` (inclusive unless `open_low`), `high` (inclusive unless `open_high`);
    `unit` is appended to the bound in the message ("1 batch"), `note` after the condition ("(0: off)")."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    unit: str = ""
    note: str = ""

    def condition(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {_shown(self.low)}{unit}"
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"in {left}{_shown(self.low)}, {_shown(self.high)}{right}"

    def holds(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below


@dataclasses.dataclass(frozen=True)
class Option:
    """The declaration of one `kerobust fit` option (field metadata of `FitConfig`).

    Attributes:
        convert: the converter of a flag or YAML value (`whole`, `number`, `boolean`, `whole_list`, `text`, `path`).
        help: the `--help` text.
        group: one of `GROUPS`.
        names: the valid names of a name option, and what a name is called in errors ("architecture").
        valid: the range every number (of a list: every element) must lie in.
        label: the option's name in messages (default: the field name with spaces).
        methods: the family of training methods that read this option (`kerobust.training.method_rules.FAMILIES`);
            set for another method it is an error.
    """

    convert: Converter
    help: str
    group: str
    names: tuple[str, tuple[str, ...]] | None = None
    valid: Range | None = None
    label: str | None = None
    methods: str | None = None


def option(default: Any, convert: Converter, help: str, group: str, **declaration: Any) -> Any:
    """A `FitConfig` field with its `Option` declaration (`declaration`: `Option`'s other attributes)."""
    if group not in GROUPS:
        raise ValueError(f"unknown option group {group!r}")
    return dataclasses.field(default=default, metadata={"option": Option(convert, help, group, **declaration)})


def declarations(config_class: type) -> dict[str, Option]:
    """`{field name: Option}` of a dataclass declared with `option`, in declaration order."""
    return {field.name: field.metadata["option"] for field in dataclasses.fields(config_class)}


def flag(name: str) -> str:
    """The command-line flag of field `name`: `eval_eps` -> `--eval-eps`."""
    return "--" + name.replace("_", "-")


def label(name: str, declared: Option) -> str:
    """How messages name field `name`."""
    return declared.label or name.replace("_", " ")


TYPE_WORDS: dict[Converter, str] = {whole: "a whole number", number: "a number", boolean: "true or false",
              whole_list: "a list of whole numbers", text: "a string", path: "a string"}
PYTHON_TYPES: dict[Converter, tuple[type, ...]] = {whole: (int,), number: (int, float), boolean: (bool,),
                                                   whole_list: (list, tuple), text: (str,), path: (str,)}


def type_problem(declared: Option, value: Any) -> str | None:
    """What is wrong with the Python type of `value` for `declared` (library callers skip the converters)."""
    kind = declared.convert
    wrong = (isinstance(value, bool) and bool not in PYTHON_TYPES[kind]) or not isinstance(value, PYTHON_TYPES[kind])
    if wrong or (kind is whole_list and not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return TYPE_WORDS[kind]
    if kind is number and not math.isfinite(value):
        return "a finite number"
    return None


def value_problem(name: str, declared: Option, value: Any) -> str | None:
    """The one-line message for a converted `value` outside `declared`'s valid names or range, else None."""
    if declared.names is not None:
        return None  # names are checked by `unknown_name`, which suggests the nearest
    if declared.valid is None:
        return None
    values = value if isinstance(value, (list, tuple)) else [value]
    if all(declared.valid.holds(v) for v in values):
        return None
    note = f" {declared.valid.note}" if declared.valid.note else ""
    return f"{label(name, declared)} must be {declared.valid.condition()}{note}, got {value}."


def shown_default(value: Any) -> str:
    """A default as a user types it (`true`, not `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def help_by_group(config_class: type, with_defaults: bool = False) -> dict[str, list[tuple[str, str]]]:
    """`{group: [(flag, help)]}` for `--help`, groups in `GROUPS` order; `with_defaults` appends each set default
    unless the help already speaks of it (a `None` default is the dataset's or the architecture's)."""
    defaults = {field.name: field.default for field in dataclasses.fields(config_class)}
    grouped: dict[str, list[tuple[str, str]]] = {group: [] for group in GROUPS}
    for name, declared in declarations(config_class).items():
        text = declared.help
        if with_defaults and defaults[name] is not None and "default" not in text:
            text = f"{text}; default {shown_default(defaults[name])}"
        grouped[declared.group].append((flag(name), text))
    return grouped


def markdown_table(config_class: type) -> str:
    """The flag table of `docs/fit.md`: one section per group, a row per flag with its default and help."""
    defaults = {field.name: field.default for field in dataclasses.fields(config_class)}
    lines = []
    for group, rows in help_by_group(config_class).items():
        lines += [f"### {group[0].upper()}{group[1:]}", "", "| flag | default | what it sets |", "|---|---|---|"]
        for flag_name, help_text in rows:
            default = defaults[flag_name[2:].replace("-", "_")]
            shown = "-" if default is None else f"`{shown_default(default)}`"
            lines.append(f"| `{flag_name}` | {shown} | {help_text.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


BEGIN, END = "<!-- generated: begin -->\n", "<!-- generated: end -->"


def with_table(page: str, table: str) -> str:
    """`page` with the text between its generated-block markers replaced by `table`."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}{table}{END}{tail}"

