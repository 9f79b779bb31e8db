"""The run folder of `kerobust fit`: created writable, and never silently reused for a different run."""

import os
import tempfile

import yaml

from kerobust.errors import KerobustError

CONFIG_FILE = "config.yaml"


def prepare_run_folder(path, config_yaml, defaults=None):
    """Creates `path` if needed, checks that it is writable and that it holds no other run's config.

    A folder with the same resolved config is a run to resume; one with a different config is refused, naming
    the keys that differ. A key the old config lacks (written by an older kerobust) matches when the new value is
    its default in `defaults`.
    """
    defaults = defaults or {}
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError as error:
        raise KerobustError(f"run folder {path!r} is not writable ({error.strerror}); pass another --run-dir.") from None
    existing = os.path.join(path, CONFIG_FILE)
    if os.path.isfile(existing):
        with open(existing, encoding="utf-8") as handle:
            old = yaml.safe_load(handle) or {}
        new = yaml.safe_load(config_yaml)
        ignored = {"run_dir"}
        differing = sorted(
            k for k in set(old) | set(new) if k not in ignored and old.get(k, defaults.get(k)) != new.get(k)
        )
        if differing:
            raise KerobustError(
                f"run folder {path!r} holds a different run (differs in {', '.join(differing)}); pass another "
                f"--run-dir or remove that folder."
            )
    return path
