"""The package's import structure, read from the source: no cycles, models free of Celery, and no
import tucked inside a function to dodge a cycle."""

import ast
from pathlib import Path

import bookrec

PACKAGE = Path(bookrec.__file__).parent
# Imports inside functions that are there for a reason other than a cycle.
ALLOWED_LOCAL_IMPORTS = {
    ("bookrec.apps", "bookrec"),  # AppConfig.ready(): the app registry is ready only then
    ("bookrec.apps", "bookrec.checks"),
    ("bookrec.apps", "bookrec.schema"),
    ("bookrec.apps", "bookrec.signals"),
}


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(node, module, is_package):
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def package_modules():
    return {
        module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }


def imports_of(path, module):
    """(module-level imports, imports inside functions) of one source file."""
    tree = ast.parse(path.read_text())
    top, local = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = imported_names(node, module, path.name == "__init__.py")
            (top if node.col_offset == 0 else local).update(names)
    return top, local


def graph():
    modules = package_modules()
    edges, local_edges, external = {}, {}, {}
    for module, path in modules.items():
        top, local = imports_of(path, module)
        edges[module] = {name for name in top if name in modules and name != module}
        local_edges[module] = {name for name in local if name in modules}
        external[module] = {name.split(".")[0] for name in top if not name.startswith("bookrec")}
    return edges, local_edges, external


def closure(edges, start):
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


def test_no_import_cycles():
    edges, _, _ = graph()
    cycles = [
        (module, other) for module in edges for other in edges[module]
        if module in closure(edges, other)
    ]
    assert cycles == []


def test_models_import_no_task_module_and_no_celery():
    edges, _, external = graph()
    reached = closure(edges, "bookrec.models")
    assert "bookrec.tasks" not in reached
    assert not any("celery" in external[module] for module in reached)


def test_imports_inside_functions_have_a_reason():
    _, local_edges, _ = graph()
    local = {(module, name) for module, names in local_edges.items() for name in names}
    assert local <= ALLOWED_LOCAL_IMPORTS


def test_the_checker_sees_a_cycle(tmp_path):
    """The cycle test above can fail: two modules importing each other form one."""
    edges = {"a": {"b"}, "b": {"a"}}
    assert "a" in closure(edges, "b")
