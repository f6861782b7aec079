"""Two `dvc exp run` in one workspace: the second rewrites params.yaml while the first's stage
runs, and DVC would record the first's outputs under the second's params. The running stage
refuses, so nothing is recorded half one run and half the other."""

import subprocess
import time

import pytest
import yaml

from lrstudy.params import changed_params, leaf_keys
from lrstudy.study.runner import dvc_command
from tests.helpers.commands import dvc, stage_env
from tests.helpers.sandbox import REPO_ROOT, commit_repository

# A stage that holds until the test lets it go, written as the project's stages are.
HOLDING_STAGE = """
import time
from pathlib import Path

from lrstudy.params import load_params, stage_main


@stage_main
def main():
    k = load_params()["p"]["k"]
    Path("started").touch()
    while not Path("go").exists():
        time.sleep(0.05)
    Path("out.txt").write_text(str(k))


if __name__ == "__main__":
    main()
"""
PIPELINE = {"stages": {"hold": {"cmd": "python hold.py", "params": ["p"], "outs": ["out.txt"]}}}


def test_leaf_keys_and_changed_params():
    declared = {"p": {"k": 2, "inner": {"x": 1}}, "q": {"y": "a"}}
    assert leaf_keys(declared) == ["p.k", "p.inner.x", "q.y"]
    earlier = {"p": {"k": 2, "inner": {"x": 1}}, "q": {"y": "a"}, "other": 1}
    now = {"p": {"k": 3, "inner": {}}, "q": {"y": "a"}, "other": 2}
    assert changed_params(leaf_keys(declared), earlier, now) == ["p.k", "p.inner.x"]
    assert changed_params(["p.k"], earlier, earlier) == []


@pytest.fixture
def holding_project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "hold.py").write_text(HOLDING_STAGE)
    (root / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE))
    (root / "params.yaml").write_text("p:\n  k: 1\nq:\n  x: 1\n")
    (root / ".gitignore").write_text("started\ngo\n")
    return commit_repository(root)


def start_held(root, *dvc_args):
    """`dvc ...` whose stage has started and now waits for `go`."""
    process = subprocess.Popen(
        dvc_command(*dvc_args),
        cwd=root,
        env=stage_env(PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (root / "started").exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)
    return process


def finish(root, process):
    (root / "go").touch()
    output, _ = process.communicate(timeout=120)
    return process.returncode, output


@pytest.mark.slow
def test_a_second_exp_run_cannot_pair_its_params_with_the_first_runs_outputs(holding_project):
    root = holding_project
    first = start_held(root, "exp", "run", "-S", "p.k=2")
    second = dvc("exp", "run", "-S", "p.k=3", cwd=root, check=False, PYTHONPATH=str(REPO_ROOT))
    assert second.returncode != 0  # DVC's own lock stops the second's stage
    returncode, output = finish(root, first)

    assert returncode != 0, output
    assert "error: params.yaml changed while hold ran (p.k)" in output
    assert "dvc exp run --queue" in output
    lock = root / "dvc.lock"
    assert not lock.exists() or "hold" not in yaml.safe_load(lock.read_text())["stages"]
    assert dvc("status", "--json", cwd=root).stdout.strip() not in ("{}", "")


@pytest.mark.slow
def test_params_the_stage_does_not_declare_may_change_while_it_runs(holding_project):
    root = holding_project
    run = start_held(root, "repro")
    (root / "params.yaml").write_text("p:\n  k: 1\nq:\n  x: 2\n")
    returncode, output = finish(root, run)

    assert returncode == 0, output
    assert yaml.safe_load((root / "dvc.lock").read_text())["stages"]["hold"]["params"] == {
        "params.yaml": {"p": {"k": 1}}
    }
