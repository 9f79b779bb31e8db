"""An `argparse` parser whose errors are one line, as every kerobust command and study script answers bad input."""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (with the nearest valid flag for a misspelt one), exit 2."""

    commands: dict[str, OneLineParser]  # the sub-command parsers, by name (set by `kerobust.cli.main`)

    def error(self, message: str) -> NoReturn:
        if "unrecognized arguments" in message:
            flags = self._all_flags()
            for word in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(word.split("=")[0], flags, n=1, cutoff=0.7)
                if close:
                    message += f" (did you mean {close[0]}?)"
                    break
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)

    def _all_flags(self):
        flags = []
        for action in self._actions:
            flags += action.option_strings
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    flags += parser._all_flags()
        return flags
