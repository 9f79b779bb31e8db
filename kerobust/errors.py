"""User-facing errors: one clear line that names the bad value and what would be accepted."""

import difflib


class KerobustError(ValueError):
    """Bad input from the user (flag, config, dataset, file). The CLI prints it in one line and exits 2."""


def unknown_name(kind, name, valid):
    """Builds the error for an unknown name, suggesting the nearest valid one.

    Args:
        kind: what the name denotes, e.g. "architecture".
        name: the name the user gave.
        valid: the accepted names.

    Returns:
        A `KerobustError` to raise.
    """
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return KerobustError(f"unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}.")


def require(condition, message):
    """Raises `KerobustError(message)` unless `condition` holds."""
    if not condition:
        raise KerobustError(message)
