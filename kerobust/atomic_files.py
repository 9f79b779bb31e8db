"""Writes that never leave a half-written file: write beside the target, then rename over it."""

import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
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


def write_text(path, text):
    """Atomically writes `text` to `path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)


def write_json(path, value):
    """Atomically writes `value` to `path` as indented JSON."""
    write_text(path, json.dumps(value, indent=2) + "\n")
