"""The tree stays lint-clean and formatted, and the test markers strict, in CI too (`make test`)."""

import subprocess
import sys
import tomllib

import pytest
import yaml

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
