"""The architecture registry behind `kerobust fit --arch NAME`."""

import inspect
from typing import Callable

from kerobust.catalog import ARCHITECTURES
from kerobust.errors import KerobustError, unknown_name

_BUILDERS: dict[str, Callable] = {}


def register(name):
    """Decorator: registers `builder(input_shape, num_classes, mean, std, **options) -> keras.Model` as `name`."""

    if name not in ARCHITECTURES:
        raise ValueError(f"architecture {name!r} is not in kerobust.catalog.ARCHITECTURES; add it there.")

    def decorate(builder):
        _BUILDERS[name] = builder
        return builder

    return decorate


def architectures():
    """Registered architecture names."""
    return tuple(sorted(_BUILDERS))


def architecture_options(arch):
    """The keyword options (beyond input shape, classes and statistics) architecture `arch` accepts."""
    parameters = inspect.signature(get_builder(arch)).parameters
    return tuple(p for p in parameters if p not in ("input_shape", "num_classes", "mean", "std"))


def get_builder(arch):
    if arch not in _BUILDERS:
        raise unknown_name("architecture", arch, _BUILDERS)
    return _BUILDERS[arch]


def build_model(arch, input_shape, num_classes, mean, std, **options):
    """Builds architecture `arch`; options it does not take are an error, not silently ignored."""
    builder = get_builder(arch)
    accepted = architecture_options(arch)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise KerobustError(f"architecture {arch!r} does not take option(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(accepted) or 'none'}.")
    return builder(input_shape=tuple(input_shape), num_classes=int(num_classes), mean=mean, std=std, **options)
