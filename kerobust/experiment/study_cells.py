"""Finished cells of a study (one trained and evaluated configuration each), kept as JSON and read back when the
study runs again with the same settings, so an interrupted or extended study repeats no work."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from kerobust.atomic_files import write_json
from kerobust.errors import KerobustError


def read_cell(path: str) -> dict[str, Any]:
    """The cell stored at `path`; a one-line error when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise KerobustError(f"finished cell {path} cannot be read ({error}); remove it to recompute it.") from None


def cached_cell(path: str, settings: Mapping[str, Any], compute: Callable[[], Mapping[str, Any]]) -> dict[str, Any]:
    """The cell at `path` if it was computed with `settings`, else `compute()` (a JSON-ready dict), stored there
    atomically with its `settings`.

    Raises:
        KerobustError: the stored cell has other settings (the study's results would mix two protocols).
    """
    settings = json.loads(json.dumps(settings))  # as stored: tuples become lists
    if os.path.exists(path):
        cell = read_cell(path)
        if cell.get("settings") != settings:
            raise KerobustError(f"{path} was computed with other settings ({cell.get('settings')}); pass another "
                                "--out, or remove the cell to recompute it.")
        return cell
    cell = dict(compute(), settings=settings)
    write_json(path, cell)
    return cell
