"""Every public function and method of kerobust carries type hints on its arguments and its return value."""

import ast
import pathlib

import kerobust

ROOT = pathlib.Path(kerobust.__file__).parent


def missing_hints(tree):
    """`(line, name, what)` for each public function or method without a hint on an argument or its return."""
    found = []

    def visit(node, private_scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, private_scope or child.name.startswith("_"))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = child.name
                public = not private_scope and (not name.startswith("_") or name == "__init__")
                if public:
                    arguments = child.args.posonlyargs + child.args.args + child.args.kwonlyargs
                    for index, argument in enumerate(arguments):
                        is_receiver = index == 0 and argument.arg in ("self", "cls") and isinstance(node, ast.ClassDef)
                        if argument.annotation is None and not is_receiver:
                            found.append((child.lineno, name, f"argument {argument.arg!r}"))
                    for extra in (child.args.vararg, child.args.kwarg):
                        if extra is not None and extra.annotation is None:
                            found.append((child.lineno, name, f"argument {extra.arg!r}"))
                    if child.returns is None and name != "__init__":
                        found.append((child.lineno, name, "return"))
                # nested functions are private helpers: not checked

    visit(tree, False)
    return found


def test_the_checker_finds_missing_hints():
    source = ("def f(a, b: int) -> int: ...\ndef g(a: int): ...\ndef _h(a): ...\n"
              "class C:\n    def m(self, x: int) -> None: ...\n    def n(self, y): ...\n")
    assert missing_hints(ast.parse(source)) == [(1, "f", "argument 'a'"), (2, "g", "return"),
                                               (6, "n", "argument 'y'"), (6, "n", "return")]


def test_every_public_function_has_type_hints():
    missing = []
    for path in sorted(ROOT.rglob("*.py")):
        if any(part.startswith("_") and part != "__init__.py" for part in path.relative_to(ROOT).parts):
            continue  # private modules
        for line, name, what in missing_hints(ast.parse(path.read_text(encoding="utf-8"))):
            missing.append(f"{path.relative_to(ROOT)}:{line} {name}: {what}")
    assert not missing, f"{len(missing)} missing hints, e.g.\n" + "\n".join(missing[:20])
