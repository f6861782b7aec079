"""dvc.yaml's code deps follow the imports: a stage depends on every project module it runs.

If a module a stage imports (directly or through another project module) is missing from its
deps, editing that module would leave `dvc repro` calling the stage's stale outputs up to date.
"""

import re

import pytest
import yaml

from tests.helpers.imports import imported_modules, module_file
from tests.helpers.sandbox import REPO_ROOT

STAGES = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def code_closure(module):
    """Every project file the module runs: itself, its project imports, theirs, and the
    packages' __init__.py files that Python runs on the way."""
    files, pending = set(), [module]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in files:
                files.add(path)
                pending.extend(imported_modules(path))
    return {path.relative_to(REPO_ROOT).as_posix() for path in files}


def stage_module(stage):
    match = re.fullmatch(r"python -m ([\w.]+)", stage["cmd"])
    assert match, f"expected `python -m <module>`, got {stage['cmd']!r}"
    return match.group(1)


def code_deps(stage):
    deps = {dep if isinstance(dep, str) else next(iter(dep)) for dep in stage.get("deps", [])}
    return {dep for dep in deps if dep.endswith(".py")}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_depends_on_exactly_the_code_it_runs(name):
    stage = STAGES[name]
    needed, listed = code_closure(stage_module(stage)), code_deps(stage)
    assert not needed - listed, (
        f"stage {name}: add to its deps in dvc.yaml: {sorted(needed - listed)}"
    )
    assert not listed - needed, (
        f"stage {name}: its deps list code it never runs: {sorted(listed - needed)}"
    )


def test_the_closure_follows_imports_through_other_project_modules():
    closure = code_closure("stages.evaluate")
    # evaluate imports backbones, which imports the Lite0 port: the second step must be found too.
    assert {
        "stages/evaluate.py",
        "lrstudy/models/backbones.py",
        "lrstudy/models/efficientnet_lite0.py",
        "lrstudy/models/__init__.py",
        "lrstudy/__init__.py",
    } <= closure
    assert not any(path.startswith(("tests/", "bench/", "tools/")) for path in closure)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_runs_the_file_of_its_name(name):
    # stage_main names the stage by its file, to look up the params dvc.yaml declares for it
    assert stage_module(STAGES[name]) == f"stages.{name}"
