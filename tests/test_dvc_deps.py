"""dvc.yaml's code deps are package folders and follow the imports: a stage depends on every
project file it runs, through at most five code entries, and a folder dep holds exactly the
files git tracks, so `dvc repro` never calls a stale result up to date. Each stage reads only the
params it declares."""

import ast
import re
import subprocess

import pytest
import yaml

from tests.helpers.imports import imported_modules, module_file
from tests.helpers.sandbox import REPO_ROOT

PIPELINE = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
STAGES = PIPELINE["stages"]
CODE_ROOTS = ("stages/", "lrstudy/")
MAX_CODE_ENTRIES, MAX_PIPELINE_LINES = 5, 200


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


def entries(stage, key):
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in stage.get(key, [])]


def code_deps(stage):
    return [dep for dep in entries(stage, "deps") if dep.startswith(CODE_ROOTS)]


def covers(dep, path):
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def only_a_docstring(path):
    """A package's __init__.py that holds nothing but its docstring: it can change no output."""
    body = ast.parse((REPO_ROOT / path).read_text(encoding="utf-8")).body
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value.value, str)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_depends_on_the_code_it_runs_through_a_few_entries(name):
    stage = STAGES[name]
    needed, listed = code_closure(stage_module(stage)), code_deps(stage)
    assert len(listed) <= MAX_CODE_ENTRIES, f"stage {name}: {len(listed)} code deps: {listed}"
    assert f"stages/{name}.py" in listed
    uncovered = sorted(
        path
        for path in needed
        if not any(covers(dep, path) for dep in listed)
        and not (path.endswith("__init__.py") and only_a_docstring(path))
    )
    assert not uncovered, f"stage {name}: add to its deps in dvc.yaml what covers {uncovered}"
    unused = [dep for dep in listed if not any(covers(dep, path) for path in needed)]
    assert not unused, f"stage {name}: its deps list code it never runs: {unused}"


def test_the_closure_follows_imports_through_other_project_modules():
    closure = code_closure("stages.features")
    # features imports build, which imports the Lite0 port: the second step must be found too.
    assert {
        "stages/features.py",
        "lrstudy/backbone/build.py",
        "lrstudy/backbone/efficientnet_lite0.py",
        "lrstudy/backbone/__init__.py",
        "lrstudy/__init__.py",
    } <= closure
    assert not any(path.startswith(("tests/", "bench/", "tools/")) for path in closure)


def test_head_only_code_never_reruns_the_backbone():
    features = code_deps(STAGES["features"])
    for path in code_closure("stages.train") - code_closure("stages.features"):
        assert not any(covers(dep, path) for dep in features), path


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_runs_the_file_of_its_name(name):
    # stage_main names the stage by its file, to look up the params dvc.yaml declares for it
    assert stage_module(STAGES[name]) == f"stages.{name}"


def test_folder_deps_hold_exactly_the_files_git_tracks():
    from dvc.repo import Repo

    folders = sorted(
        {dep for stage in STAGES.values() for dep in entries(stage, "deps")}
        - {dep for stage in STAGES.values() for dep in entries(stage, "deps") if "." in dep}
    )
    code_folders = [folder for folder in folders if folder.startswith(CODE_ROOTS)]
    assert code_folders, "no folder deps to check"
    with Repo(str(REPO_ROOT)) as repo:
        ignore = repo.dvcignore
        assert ignore.is_ignored_file(str(REPO_ROOT / "lrstudy/core/__pycache__/config.pyc"))
        for folder in code_folders:
            seen = {
                path.removeprefix(str(REPO_ROOT) + "/")
                for path in ignore.find(repo.fs, str(REPO_ROOT / folder))
            }
            tracked = subprocess.run(
                ["git", "ls-files", folder], cwd=REPO_ROOT, capture_output=True, text=True
            ).stdout.split()
            assert seen == set(tracked), f"{folder}: DVC hashes what git does not track"


def test_the_pipeline_reads_as_a_method_section():
    text = (REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_PIPELINE_LINES


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_reads_exactly_the_params_it_declares(name):
    path = f"stages/{name}.py"
    source = (REPO_ROOT / path).read_text(encoding="utf-8")
    declared = set(STAGES[name].get("params", []))
    # config.group alone (the whole group) or config.group.key (one key, or a method of it)
    groups = set(re.findall(r"\bconfig\.(\w+)\b(?!\.\w)", source))
    keys = set(re.findall(r"\bconfig\.(\w+\.\w+)", source))
    for key in keys:
        group = key.split(".")[0]
        assert group in declared or key in declared, f"{name} reads {key} undeclared"
    for group in groups:
        assert group in declared, f"{name} reads all of {group} but declares {sorted(declared)}"
    read = groups | keys
    for entry in declared:
        assert any(item == entry or item.startswith(entry + ".") for item in read), (
            f"{name} declares {entry} but never reads it"
        )
