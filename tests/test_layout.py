"""The tree shows the architecture: imports flow one way, and modules and functions stay short.

Inside the library, data -> models -> training -> reporting -> study: a sub-package imports
only those before it, itself and the leaf modules, and a leaf module only other leaves. The
stages and tools import the library, never the tests or the bench.
"""

import ast

import pytest

from tests.helpers.imports import module_name, project_imports
from tests.helpers.sandbox import REPO_ROOT

LAYERS = ("data", "models", "training", "reporting", "study")
LEAVES = ("atomic", "errors", "params", "paths", "statistics", "tracking")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 250, 50
CODE = [
    path
    for folder in ("lrstudy", "stages", "tools", "bench")
    for path in sorted((REPO_ROOT / folder).rglob("*.py"))
]


def library_part(module):
    """The layer or leaf a library module belongs to: lrstudy.data.fetch -> data."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_library_module_is_in_a_layer_or_a_leaf():
    modules = [module_name(path) for path in (REPO_ROOT / "lrstudy").rglob("*.py")]
    strays = [m for m in modules if m != "lrstudy" and library_part(m) not in LAYERS + LEAVES]
    assert not strays, f"place these in a sub-package or declare them leaves: {strays}"


@pytest.mark.parametrize("path", CODE, ids=lambda path: module_name(path))
def test_imports_flow_one_way(path):
    module, imports = module_name(path), project_imports(path)
    if not module.startswith("lrstudy"):
        allowed = ("lrstudy", "bench", "tests") if module.startswith("bench") else ("lrstudy",)
        assert all(name.split(".")[0] in allowed for name in imports), imports
        return
    assert all(name.startswith("lrstudy") for name in imports), imports
    part = library_part(module)
    if part is None:  # lrstudy/__init__.py: every module's first import, so it imports nothing
        assert not imports
        return
    below = LEAVES if part in LEAVES else LEAVES + LAYERS[: LAYERS.index(part) + 1]
    wrong = sorted(name for name in imports if library_part(name) not in below)
    assert not wrong, f"{module} ({part}) may not import {wrong}"


def test_no_import_cycles_in_the_library():
    graph = {
        module_name(path): project_imports(path) for path in (REPO_ROOT / "lrstudy").rglob("*.py")
    }
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import cycle: {' -> '.join(path + [module])}"
        if module in done:
            return
        path.append(module)
        for imported in graph.get(module, ()):
            visit(imported)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


@pytest.mark.parametrize("path", CODE, ids=lambda path: module_name(path))
def test_modules_and_functions_stay_short(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"split these: {long}"
