"""Where kerobust imports TensorFlow or JAX: anywhere in `kerobust/backend/`; elsewhere only the services Keras does not
wrap, deferred into a function, in the modules the backend's docstring names."""

import ast
import pathlib

import kerobust

ROOT = pathlib.Path(kerobust.__file__).parent
FRAMEWORKS = ("tensorflow", "tensorflow_datasets", "jax", "jaxlib")
SERVICES = {"callbacks/dashboard.py", "callbacks/hparams.py", "export/saved_model.py", "distribution.py",
            "data/tfds_source.py"}


def framework_imports(tree):
    """`(node, at top level)` for each import of a framework in `tree`."""
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(name.split(".")[0] in FRAMEWORKS for name in names):
            yield node, id(node) in top


def test_the_finder_sees_top_level_and_deferred_imports():
    tree = ast.parse("import jax\n\ndef f():\n    from tensorflow import summary\n")
    assert [top for _, top in framework_imports(tree)] == [True, False]


def test_frameworks_are_imported_only_in_the_backend_or_deferred_for_a_named_service():
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("backend/"):
            continue
        found = list(framework_imports(ast.parse(path.read_text(encoding="utf-8"))))
        assert not found or relative in SERVICES, f"{relative} imports a framework"
        assert not any(top for _, top in found), f"{relative} imports a framework at its top level"
