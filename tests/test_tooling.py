"""The tree stays lint-clean and formatted, and the test markers strict, in CI too (`make test`)."""

import subprocess
import sys
import tomllib

import pytest

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
