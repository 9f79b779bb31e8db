"""kerobust: train and analyse adversarially robust convolutional networks with Keras 3.

`import kerobust` registers every serialisable kerobust class (layers, constraints, regularizers) with Keras, so
`keras.saving.load_model` reads kerobust's `.keras` files after it. Importing Keras means importing its backend
(seconds for TensorFlow), so registration happens as soon as Keras is imported, not before: at once if it already
is, otherwise right after the program's own `import keras`. That keeps `kerobust --help` fast.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys

__version__ = "0.1.0"

SERIALISABLE_MODULES = (
    "kerobust.layers",
    "kerobust.constraints",
    "kerobust.regularizers",
    "kerobust.models",
)


def register_all() -> None:
    """Imports every module holding `@keras.saving.register_keras_serializable(package="kerobust")` classes."""
    for name in SERIALISABLE_MODULES:
        importlib.import_module(name)


def _initialising_kerobust_module():
    return any(
        name.startswith("kerobust.") and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Registers kerobust's classes once `keras` has finished importing.

    When Keras is first imported from inside a kerobust module that is still initialising (`import kerobust.norms`
    before Keras), registering at once would re-enter that module half-built; registration then waits until the
    outermost kerobust module has finished (the finder wraps kerobust's own module loaders for this).
    """

    pending = False

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith("kerobust."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenRegister(spec.loader, self, keras=name == "keras")
        return spec

    def after_import(self, keras):
        self.pending = self.pending or keras
        if self.pending and not _initialising_kerobust_module():
            self.pending = False
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_all()


class _ThenRegister(importlib.abc.Loader):
    """A module loader that tells the finder when the module has finished executing."""

    def __init__(self, loader, finder, keras):
        self._loader, self._finder, self._keras = loader, finder, keras

    def __getattr__(self, attribute):  # get_source, get_code, resource readers: the real loader's
        return getattr(self._loader, attribute)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__spec__._initializing = False  # finished; the import system clears it only after we return
        self._finder.after_import(self._keras)


if "keras" in sys.modules:
    register_all()
elif not any(isinstance(finder, _RegisterAfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterKeras())
