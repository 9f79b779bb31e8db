"""A study's cell is computed once, read back under the same settings, and refused under other ones."""

import json

import pytest

from kerobust.errors import KerobustError
from kerobust.experiment.study_cells import cached_cell


def test_a_cell_is_computed_once_and_read_back(tmp_path):
    path = tmp_path / "cells" / "a.json"
    calls = []
    settings = {"eps": 0.2, "milestones": (20, 30)}  # a tuple, stored as a list, still matches
    first = cached_cell(str(path), settings, lambda: calls.append(1) or {"clean": 99.0})
    again = cached_cell(str(path), dict(settings), lambda: calls.append(1) or {"clean": 0.0})
    assert calls == [1] and first == again == {"clean": 99.0, "settings": {"eps": 0.2, "milestones": [20, 30]}}
    assert json.loads(path.read_text()) == first


def test_a_cell_of_other_settings_is_refused_and_kept(tmp_path):
    path = tmp_path / "a.json"
    cached_cell(str(path), {"eps": 0.2}, lambda: {"clean": 99.0})
    stored = path.read_bytes()
    with pytest.raises(KerobustError, match="computed with other settings"):
        cached_cell(str(path), {"eps": 0.1}, lambda: {"clean": 0.0})
    assert path.read_bytes() == stored


def test_an_unreadable_cell_is_one_clear_error(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("{not json")
    with pytest.raises(KerobustError, match="cannot be read.*remove it to recompute it"):
        cached_cell(str(path), {}, lambda: {})
