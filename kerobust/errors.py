"""User-facing errors: one clear line that names the bad value and what would be accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from types import TracebackType
from typing import Literal


class KerobustError(ValueError):
    """Bad input from the user (flag, config, dataset, file). The CLI prints it in one line and exits 2."""


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> KerobustError:
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


def require(condition: object, message: str | None) -> None:
    """Raises `KerobustError(message)` unless `condition` holds."""
    if not condition:
        raise KerobustError(message)


OUT_OF_MEMORY = ("ResourceExhaustedError", "MemoryError", "OutOfMemoryError")


class memory_errors_as_user_errors:
    """Turns a framework's out-of-memory error (TensorFlow's ResourceExhaustedError, JAX's RESOURCE_EXHAUSTED, Python's
    MemoryError) inside the block into one `KerobustError` line naming `what` and `hint`."""

    def __init__(self, what: str, hint: str) -> None:
        self.what, self.hint = what, hint

    def __enter__(self) -> memory_errors_as_user_errors:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> Literal[False]:
        if error is None:
            return False
        if type(error).__name__ in OUT_OF_MEMORY or "RESOURCE_EXHAUSTED" in str(error)[:200]:
            raise KerobustError(f"{self.what} does not fit in memory; {self.hint}.") from None
        return False
