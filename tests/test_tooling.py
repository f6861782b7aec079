"""The tree stays lint-clean and formatted, the test markers strict, and requirements.txt the
hash-locked resolution of pyproject.toml's dependencies, in CI too (`make test`)."""

import subprocess
import sys
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lrstudy.core.outputs import partial_path, previous_path
from tests.helpers.sandbox import REPO_ROOT


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff_finds_nothing_in_the_whole_tree(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_markers_are_registered_and_strict():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    settings = pyproject["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in settings["addopts"].split()
    assert any(marker.startswith("slow:") for marker in settings["markers"])


def test_what_an_interrupted_write_leaves_is_ignored_by_git():
    outputs = [
        next(iter(out)) if isinstance(out, dict) else out
        for stage in yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"].values()
        for out in stage.get("outs", [])
    ]
    leftovers = [
        leftover.as_posix()
        for out in outputs
        for leftover in (partial_path(out), partial_path(out, private=True), previous_path(out))
    ]
    leftovers.append("data/.fetch-k2j4x9/extracted/x.jpg")  # stages/fetch.py's scratch folder
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO_ROOT,
        input="\n".join(leftovers),
        capture_output=True,
        text=True,
    ).stdout.split()
    assert sorted(ignored) == sorted(leftovers)


def locked():
    """{package: (version, its hashes, its marker)} of requirements.txt."""
    text = (REPO_ROOT / "requirements.txt").read_text().replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            requirement = Requirement(line.split(" --hash=")[0])
            (version,) = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            hashes = [part for part in line.split() if part.startswith("--hash=sha256:")]
            entries[canonicalize_name(requirement.name)] = (version, hashes, requirement.marker)
    return entries


def test_requirements_lock_every_declared_dependency_to_one_version_with_hashes():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(text) for text in project["dependencies"]]
    declared += [
        Requirement(text)
        for extra in project["optional-dependencies"].values()
        for text in extra
        if not text.startswith("lrstudy[")
    ]
    lock = locked()
    assert (REPO_ROOT / "requirements.txt").read_text().splitlines()[1] == "#    make lock"
    assert all(hashes for _, hashes, _ in lock.values())  # pip's --require-hashes needs them all
    for requirement in declared:
        version, _, marker = lock[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version), (requirement, version)
        if requirement.marker:  # the lock keeps a declared marker
            assert marker is not None and marker.evaluate() == requirement.marker.evaluate()
    assert set(project["optional-dependencies"]) == {"kaggle", "cluster", "dev"}
