"""`python -m kerobust.cli.reference docs/cli.md`: writes the command-line reference page from the `kerobust` parser
itself (every sub-command's flags, defaults and help, grouped as the parser groups them), so that the page cannot
drift from `kerobust <command> --help`; a test keeps the checked-in page equal to `render()`.

`kerobust fit` has its own generated page, `docs/fit.md` (`kerobust.experiment.fit_docs`); this page links to it,
and lists a group of `fit`'s flags that another command takes (`tune` takes them all) as a link to that group.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

HEADER = """# Command-line reference

Every sub-command of `kerobust`, with each flag, its default and its help text, grouped as `kerobust <command>
--help` groups them. Every sub-command also takes `-h` / `--help`, which answers at once, without loading a framework.
A default of "-" means that the command works the value out (the help says how), or that the flag is off.

This page is generated from the command-line parser (`python -m kerobust.cli.reference docs/cli.md` rewrites it),
and a test keeps it equal to the parser.
"""

FIT_PAGE = "fit.md"


def _slug(title: str) -> str:
    """The anchor Python-Markdown's table of contents gives a heading."""
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", title).strip().lower())


def _cell(text: str) -> str:
    """`text` safe inside a markdown table cell: no pipes, no raw HTML, no line breaks."""
    return " ".join(text.replace("|", "\\|").replace("<", "&lt;").split())


def _flag(action: argparse.Action) -> str:
    return ", ".join(f"`{name}`" for name in action.option_strings) or f"`{action.dest}`"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "off" if isinstance(action, argparse._StoreTrueAction) else "on"
    if action.default is None or action.default is argparse.SUPPRESS:
        return "-"
    return f"`{action.default}`"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text as `--help` prints it (`%%` is `%`, `%(default)s` filled in), on one line."""
    if not action.help:
        return ""
    return _cell(parser._get_formatter()._expand_help(action))


def _shown(group: argparse._ArgumentGroup) -> list[argparse.Action]:
    return [action for action in group._group_actions
            if action.help is not argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)]


def _synopsis(parser: argparse.ArgumentParser) -> str:
    required = [f"{a.option_strings[0]} {a.metavar or a.dest.upper()}"
                for a in parser._actions if a.required and a.option_strings]
    return " ".join([parser.prog, *required, "[options]"])


def _flag_groups(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """The named groups of a parser (`"model options": [flags]`), to recognise `fit`'s groups in other commands."""
    return {group.title or "": [name for action in _shown(group) for name in action.option_strings]
            for group in parser._action_groups if group.title not in ("options", "positional arguments")}


def command_section(name: str, parser: argparse.ArgumentParser, fit_groups: dict[str, list[str]]) -> str:
    """The reference of one sub-command: description, synopsis and one table per flag group."""
    lines = [f"## `kerobust {name}`", "", (parser.description or "").strip(), "", "```bash", _synopsis(parser),
             "```", ""]
    for group in parser._action_groups:
        actions = _shown(group)
        if not actions:
            continue
        flags = [flag for action in actions for flag in action.option_strings]
        title = group.title or "options"
        if fit_groups.get(title) == flags:  # a group of `fit`'s flags, documented once on the fit page
            heading = title.removesuffix(" options")
            listed = ", ".join(f"`{flag}`" for flag in flags)
            lines += [f"### {title.capitalize()}", "",
                      f"The {heading} flags of `kerobust fit`: {listed}; see "
                      f"[`kerobust fit` options, {heading.capitalize()}]({FIT_PAGE}#{_slug(heading)}).", ""]
            continue
        lines += [f"### {title.capitalize()}", "", "| flag | default | what it sets |", "|---|---|---|"]
        lines += [f"| {_flag(a)} | {_default(a)} | {_help(parser, a)} |" for a in actions]
        lines.append("")
    return "\n".join(lines)


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole reference page for `parser` (default: the `kerobust` command line)."""
    if parser is None:
        from kerobust.cli.main import build_parser

        parser = build_parser()
    commands: dict[str, argparse.ArgumentParser] = parser.commands  # type: ignore[attr-defined]  # a OneLineParser
    fit_groups = _flag_groups(commands["fit"]) if "fit" in commands else {}
    sections = [HEADER, "## Sub-commands", "", "| command | what it does |", "|---|---|"]
    summaries = {choice.dest: choice.help or "" for action in parser._actions
                 if isinstance(action, argparse._SubParsersAction) for choice in action._choices_actions}
    for name in commands:
        target = FIT_PAGE if name == "fit" else f"#kerobust-{_slug(name)}"
        sections.append(f"| [`kerobust {name}`]({target}) | {_cell(summaries.get(name, ''))} |")
    sections.append("")
    for name, command in commands.items():
        if name == "fit":
            sections += ["## `kerobust fit`", "", (command.description or "").strip(), "",
                         f"Its options are generated from their declarations on their own page: "
                         f"[`kerobust fit` options]({FIT_PAGE}).", ""]
        else:
            sections.append(command_section(name, command, fit_groups))
    return "\n".join(sections).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Writes the page to the path given (or prints it when none is); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: python -m kerobust.cli.reference [PAGE.md]", file=sys.stderr)
        return 2
    page = render()
    if not args:
        sys.stdout.write(page)
        return 0
    with open(args[0], "w", encoding="utf-8") as handle:
        handle.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
