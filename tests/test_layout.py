"""The tree shows the architecture: imports flow one way, the stages load nothing heavy before
their params are checked, and no module or function grows into a grab-bag.

Inside the library each package imports only those it builds on (ALLOWED below) and itself:
core, what every stage uses, imports nothing else; data and backbone only core; the heads core
and statistics; fine-tuning the backbone and the heads; reporting statistics; inference (over
images and seeds) statistics; experiments (DVC's command line) and pages (generated blocks) only
core; the study all of those but the backbone, the heads and fine-tuning, which it runs through
DVC. The stages and tools import the library,
never the tests or the bench, and the tools not the study.
"""

import ast
import json
import subprocess
import sys

import pytest

from tests.helpers.imports import module_name, project_imports
from tests.helpers.sandbox import REPO_ROOT

ALLOWED = {
    "core": {"core"},
    "statistics": set(),
    "data": {"core"},
    "backbone": {"core"},
    "heads": {"core", "statistics"},
    "finetuning": {"core", "backbone", "heads"},
    "reporting": {"core", "statistics"},
    "inference": {"statistics"},
    "experiments": {"core"},
    "pages": {"core"},
    "study": {"core", "statistics", "inference", "reporting", "experiments", "pages"},
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 50
LIBRARY = sorted((REPO_ROOT / "lrstudy").rglob("*.py"))
CODE = [
    path
    for folder in ("lrstudy", "stages", "tools", "bench")
    for path in sorted((REPO_ROOT / folder).rglob("*.py"))
]


def library_part(module):
    """The package or top-level module a library module belongs to: lrstudy.data.fetch -> data."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_library_module_is_in_a_known_part():
    modules = [module_name(path) for path in LIBRARY]
    strays = [m for m in modules if m != "lrstudy" and library_part(m) not in ALLOWED]
    assert not strays, f"place these in a package of ALLOWED or declare a new one: {strays}"


@pytest.mark.parametrize("path", CODE, ids=lambda path: module_name(path))
def test_imports_flow_one_way(path):
    module, imports = module_name(path), project_imports(path)
    if not module.startswith("lrstudy"):
        allowed = ("lrstudy", "bench", "tests") if module.startswith("bench") else ("lrstudy",)
        assert all(name.split(".")[0] in allowed for name in imports), imports
        if module.startswith("tools"):  # the everyday tools need not load the study
            assert not [name for name in imports if name.startswith("lrstudy.study")], imports
        return
    assert all(name.startswith("lrstudy") for name in imports), imports
    part = library_part(module)
    if part is None:  # lrstudy/__init__.py: every module's first import, so it imports nothing
        assert not imports
        return
    # `from lrstudy import inference` names the package too: the root, which imports nothing.
    imports = imports - {"lrstudy"}
    wrong = sorted(name for name in imports if library_part(name) not in ALLOWED[part] | {part})
    assert not wrong, f"{module} ({part}) may not import {wrong}"


def test_no_import_cycles_in_the_library():
    graph = {module_name(path): project_imports(path) for path in LIBRARY}
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


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "stages").glob("*.py")), ids=str)
def test_a_stage_imports_only_the_core_before_its_params_are_checked(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    project = [name for name in top_level if name.split(".")[0] == "lrstudy"]
    assert all(name.startswith("lrstudy.core") for name in project), project
    assert all(name.split(".")[0] in sys.stdlib_module_names | {"lrstudy"} for name in top_level)


def test_the_core_loads_no_tensorflow_keras_or_dvc():
    modules = [module_name(path) for path in LIBRARY if library_part(module_name(path)) == "core"]
    probe = (
        f"import json, sys; import {', '.join(modules)}; "
        "print(json.dumps(sorted({'tensorflow', 'keras', 'dvc', 'dvclive'} & set(sys.modules))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(loaded.stdout) == []


@pytest.mark.parametrize("path", CODE, ids=lambda path: module_name(path))
def test_modules_and_functions_stay_within_bounds(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"split these: {long}"


def code_constants(path):
    """The constants of a module's code (its docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "path",
    [
        path
        for folder in ("lrstudy/study", "tools", "bench")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
    ],
    ids=lambda path: module_name(path),
)
def test_the_baseline_comes_from_params_yaml_never_from_a_literal(path):
    """The study, the tools and the bench name the baseline as params.yaml builds it
    (`baseline.lr`, `train.optimizer`), never by a name or rate of their own."""
    constants = code_constants(path)
    assert not [value for value in constants if isinstance(value, str) and "fixed-lr" in value]
    assert 0.001 not in [value for value in constants if isinstance(value, float)]
