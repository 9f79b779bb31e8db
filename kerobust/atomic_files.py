"""Writes that never leave a half-written file: write beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kerobust.errors import KerobustError

if TYPE_CHECKING:
    import keras

    from kerobust.types import Array

SPACE_MARGIN = 8 * 2**20  # bytes kept free beyond an estimate (file-format overhead, logs written meanwhile)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yields a temporary path next to `path`; on success it replaces `path`.

    A file is replaced in one atomic rename. An existing folder is first moved aside and then replaced: two renames,
    with a brief moment in between when `path` is absent (resumable checkpoints avoid this with a pointer file). On
    error the temporary is removed and `path` is untouched.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    temporary = os.path.join(scratch, os.path.basename(path))
    try:
        yield temporary
        if os.path.isdir(path) and not os.path.islink(path):
            old = os.path.join(scratch, "old")
            os.replace(path, old)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically writes `text` to `path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Atomically writes `value` to `path` as indented JSON."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def variables_bytes(variables: Iterable[keras.Variable | Array]) -> int:
    """Bytes that `variables` (Keras variables or arrays) take as stored numbers."""
    total = 0
    for variable in variables:
        size = 1
        for dim in variable.shape:
            size *= int(dim)
        total += size * (8 if "64" in str(variable.dtype) else 4)
    return total


def existing_ancestor(path: str) -> str:
    """`path` itself if it exists, else its nearest existing parent folder."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    return existing


def require_space(folder: str, needed: int, what: str) -> None:
    """A one-line error unless the file system of `folder` has `needed` bytes (plus a margin) free.

    Checked before a write, because HDF5 (Keras's weight files) crashes the process when a disk fills mid-write."""
    free = shutil.disk_usage(existing_ancestor(folder)).free
    if free < needed + SPACE_MARGIN:
        raise KerobustError(
            f"not enough disk space to write {what} in {folder} ({free / 2**20:.1f} MiB free, about "
            f"{(needed + SPACE_MARGIN) / 2**20:.1f} MiB needed); free some space and run the same command again."
        )


@contextlib.contextmanager
def write_errors_as_user_errors(what: str, kept: str = "") -> Iterator[None]:
    """Turns an OSError while writing `what` (a full disk, a folder removed meanwhile) into one `KerobustError`
    line; `kept` says what is still usable."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise KerobustError(f"could not write {what}: {reason}.{' ' + kept if kept else ''}") from None
