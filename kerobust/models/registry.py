"""The architecture registry behind `kerobust fit --arch NAME`."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from kerobust.catalog import ARCHITECTURES
from kerobust.errors import KerobustError, unknown_name
from kerobust.types import ArrayLike

if TYPE_CHECKING:
    import keras

_BUILDERS: dict[str, Callable] = {}
_Builder = TypeVar("_Builder", bound="Callable[..., keras.Model]")  # an architecture's builder


def register(name: str) -> Callable[[_Builder], _Builder]:
    """Decorator: registers `builder(input_shape, num_classes, mean, std, **options) -> keras.Model` as `name`."""

    if name not in ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is not in kerobust.catalog.ARCHITECTURES; add it there.")

    def decorate(builder: _Builder) -> _Builder:
        _BUILDERS[name] = builder
        return builder

    return decorate


def architectures() -> tuple[str, ...]:
    """Registered architecture names."""
    return tuple(sorted(_BUILDERS))


def architecture_options(arch: str) -> tuple[str, ...]:
    """The keyword options (beyond input shape, classes and statistics) architecture `arch` accepts."""
    parameters = inspect.signature(get_builder(arch)).parameters
    return tuple(p for p in parameters if p not in ("input_shape", "num_classes", "mean", "std"))


def get_builder(arch: str) -> Callable[..., keras.Model]:
    if arch not in _BUILDERS:
        raise unknown_name("architecture", arch, _BUILDERS)
    return _BUILDERS[arch]


def build_model(arch: str, input_shape: Sequence[int], num_classes: int, mean: ArrayLike, std: ArrayLike,
                **options: Any) -> keras.Model:
    """Builds architecture `arch`; options it does not take are an error, not silently ignored."""
    builder = get_builder(arch)
    accepted = architecture_options(arch)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise KerobustError(f"architecture {arch!r} does not take option(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(accepted) or 'none'}.")
    return builder(input_shape=tuple(input_shape), num_classes=int(num_classes), mean=mean, std=std, **options)
