"""`Untracked(value)`: a reference that Keras's attribute tracking does not follow.

A Keras layer or model tracks the variables, layers and metrics assigned to its attributes (also inside lists, tuples
and dicts) as its own. A kerobust object that only reads another model's variables (the norm-decay kernels of the
classifier, a bound over the classifier's layers) holds them through `Untracked`, so they are neither saved twice nor
trained twice. Keras tracks only its own container types, so this plain frozen dataclass passes through unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Untracked(Generic[T]):
    """A value held by a Keras object without becoming part of its state."""

    value: T
