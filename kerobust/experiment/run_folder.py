"""The run folder of a fit: created writable, held by one process at a time, never silently reused for another run,
and removed again when the run that created it fails before its first checkpoint."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import yaml

from kerobust.errors import KerobustError
from kerobust.experiment.options import flag

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"
CHECKPOINTS = "checkpoints"


def _lock(path):
    """An open file holding an exclusive `flock` on `path/.lock` (released when the process ends, even on SIGKILL)."""
    handle = open(os.path.join(path, LOCK_FILE), "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise KerobustError(
            f"run folder {path!r} is in use by another kerobust process (pid {holder}); wait for it to finish or "
            f"pass another --run-dir."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def read_run_config(folder: str, way_back: str) -> dict[str, Any] | None:
    """The mapping in `folder/config.yaml` (None when there is none); a damaged one is a one-line error ending with
    `way_back`."""
    existing = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(existing):
        return None
    try:
        with open(existing, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except (yaml.YAMLError, UnicodeDecodeError, ValueError):
        raise KerobustError(f"{existing} is damaged (not a YAML mapping): restore it, or {way_back}.") from None
    return config


def _check_config(path, config_yaml, defaults, may_differ):
    old = read_run_config(path, "pass another --run-dir to start afresh")
    if old is None:
        return
    new = yaml.safe_load(config_yaml)
    ignored = {"run_dir", "fit_epochs", *may_differ}  # fit_epochs follows from --epochs and --replays
    differing = sorted(k for k in set(old) | set(new) if k not in ignored and old.get(k, defaults.get(k)) != new.get(k))
    if differing:
        changes = ", ".join(f"{flag(k)} {shown(old.get(k, defaults.get(k)))} there, {shown(new.get(k))} now"
                            for k in differing)
        from kerobust.experiment.config import REEVALUATION_OPTIONS

        hint = (" To evaluate the finished run again with these settings, add --reevaluate."
                if set(differing) <= set(REEVALUATION_OPTIONS) else "")
        raise KerobustError(f"run folder {path!r} holds a different run ({changes}); pass another --run-dir or "
                            f"remove that folder.{hint}")


def shown(value: Any) -> str:
    """A configuration value as a user wrote it: `unset` for None, lists joined by commas."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _first_missing(path):
    """The outermost folder of `path` that does not exist yet, or None when `path` exists."""
    path = os.path.abspath(path)
    missing = None
    while not os.path.exists(path):
        missing, parent = path, os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return missing


def _has_checkpoint(path):
    folder = os.path.join(path, CHECKPOINTS)
    return os.path.isdir(folder) and bool(os.listdir(folder))


@contextlib.contextmanager
def run_folder(path: str, config_yaml: str, defaults: Mapping[str, Any] | None = None,
               may_differ: Collection[str] = ()) -> Iterator[str]:
    """Holds the run folder `path` for the duration of a fit.

    Creates it if needed and checks that it is writable, takes its lock (a second process on the same folder is
    refused in one line), and checks that it holds no other run's config: a folder with the same resolved config is a
    run to resume; one with a different config is refused, naming the keys that differ. A key the old config lacks
    (written by an older kerobust) matches when the new value is its default in `defaults`; keys in `may_differ` (the
    options a `--reevaluate` may change) are not compared. If the body raises and the
    folder holds no checkpoint, what this call made is removed: the folder (and any parent this call created), or in a
    folder that existed (an empty one, `--run-dir .`) the files and folders that were not there before, so a failed
    start leaves nothing behind.
    """
    defaults = defaults or {}
    created = _first_missing(path)  # the top folder this call creates (`runs/` too, for `runs/name`), or None
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        if created and os.path.isdir(created):
            shutil.rmtree(created, ignore_errors=True)
        raise KerobustError(f"run folder {path!r} is not writable ({error.strerror}); "
                            "pass another --run-dir.") from None
    before = set() if created else set(os.listdir(path))
    lock = None
    try:
        lock = _lock(path)
        _check_config(path, config_yaml, defaults, may_differ)
        yield path
    except BaseException:
        if not _has_checkpoint(path):  # no run to resume: take back what this call made
            if lock is not None:
                lock.close()
                lock = None
            if created:
                shutil.rmtree(created, ignore_errors=True)
            else:
                for name in set(os.listdir(path)) - before:
                    _remove(os.path.join(path, name))
        raise
    finally:
        if lock is not None:
            lock.close()


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def prepare_run_folder(path: str, config_yaml: str, defaults: Mapping[str, Any] | None = None,
                       may_differ: Collection[str] = ()) -> str:
    """Checks `path` as `run_folder` does, without holding it (for tools that only inspect a folder)."""
    with run_folder(path, config_yaml, defaults, may_differ):
        return path
