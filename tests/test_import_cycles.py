"""No import cycle among kerobust's modules, counting the imports deferred into functions as well (those under
`if TYPE_CHECKING:` only serve type hints and never run)."""

import ast
import pathlib

import kerobust

ROOT = pathlib.Path(kerobust.__file__).parent


def module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree):
    """Every node of `tree` except those inside an `if TYPE_CHECKING:` block."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            test = child.test if isinstance(child, ast.If) else None
            if test is not None and "TYPE_CHECKING" in ast.unparse(test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(modules):
    """{module: the kerobust modules it imports anywhere in its body at run time}; `from package import submodule`
    counts as the submodule."""
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                found.update(sub for sub in subs if sub in modules)
                if not all(sub in modules for sub in subs):
                    found.add(node.module)
        graph[name] = {target for target in found if target in modules and target != name}
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_type_checking_imports_do_not_count():
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import a\nelse:\n    import b\n")
    assert {alias.name for node in runtime_nodes(tree) if isinstance(node, ast.Import) for alias in node.names} == {"b"}


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_kerobust():
    modules = {module_name(path): path for path in ROOT.rglob("*.py")}
    assert cycles(imports_of(modules)) == []
