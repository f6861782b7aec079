"""Two `dvc exp run` in one workspace: the second rewrites params.yaml while the first's stage
runs, and DVC would record the first's outputs under the second's params. The running stage
refuses, so nothing is recorded half one run and half the other."""

import shutil
import subprocess
import time

import pytest
import yaml
from dvc.api import exp_show, read

from lrstudy.core.stage import ABSENT, value_at
from lrstudy.experiments import dvc_command
from tests.helpers.commands import dvc, stage_env
from tests.helpers.sandbox import REPO_ROOT, commit_repository, set_params

# A stage that holds until the test lets it go, written as the project's stages are.
HOLDING_STAGE = """
import time
from pathlib import Path

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    Path("started").touch()
    while not Path("go").exists():
        time.sleep(0.05)
    Path("out.txt").write_text(str(config.schedule.values["k"]))


if __name__ == "__main__":
    main()
"""
PIPELINE = {
    "stages": {"hold": {"cmd": "python hold.py", "params": ["schedule.k"], "outs": ["out.txt"]}}
}


def test_values_are_found_by_dotted_key_and_a_missing_one_is_told_apart_from_null():
    params = {"p": {"k": 2, "inner": {"x": None}}}
    assert value_at(params, "p.k") == 2 and value_at(params, "p.inner.x") is None
    assert value_at(params, "p.inner.y") is ABSENT and value_at(params, "p.k.z") is ABSENT


@pytest.fixture
def holding_project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "hold.py").write_text(HOLDING_STAGE)
    (root / "dvc.yaml").write_text(yaml.safe_dump(PIPELINE))
    shutil.copyfile(REPO_ROOT / "params.yaml", root / "params.yaml")
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
    first = start_held(root, "exp", "run", "-S", "schedule.k=2")
    second = dvc(
        "exp", "run", "-S", "schedule.k=3", cwd=root, check=False, PYTHONPATH=str(REPO_ROOT)
    )
    assert second.returncode != 0  # DVC's own lock stops the second's stage
    returncode, output = finish(root, first)

    assert returncode != 0, output
    assert (
        "error: params.yaml changed while hold ran (schedule.k), by hand or by another `dvc exp "
        "run` in this workspace, so its outputs are not recorded."
    ) in output
    assert "dvc exp run --queue" in output
    lock = root / "dvc.lock"
    assert not lock.exists() or "hold" not in yaml.safe_load(lock.read_text())["stages"]
    assert dvc("status", "--json", cwd=root).stdout.strip() not in ("{}", "")


@pytest.mark.slow
def test_params_the_stage_does_not_declare_may_change_while_it_runs(holding_project):
    root = holding_project
    run = start_held(root, "repro")
    set_params(root / "params.yaml", {"schedule.initial_lr": 0.5})
    returncode, output = finish(root, run)

    assert returncode == 0, output
    assert yaml.safe_load((root / "dvc.lock").read_text())["stages"]["hold"]["params"] == {
        "params.yaml": {"schedule.k": 0.1}
    }


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 1.5])
def test_two_exp_runs_a_moment_apart_record_nothing_half_one_half_the_other(holding_project, delay):
    # The second may start before the first reaches its stage: then DVC's own bookkeeping may
    # fail either run (docs/troubleshooting.md). Whatever fails, what is recorded is whole.
    root = holding_project
    (root / "go").touch()  # the stages do not wait: the race is DVC's, before them and after
    first = subprocess.Popen(
        dvc_command("exp", "run", "-S", "schedule.k=2"),
        cwd=root,
        env=stage_env(PYTHONPATH=str(REPO_ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(delay)
    dvc("exp", "run", "-S", "schedule.k=3", cwd=root, check=False, PYTHONPATH=str(REPO_ROOT))
    first.communicate(timeout=120)

    for row in exp_show(repo=str(root)):
        if row.get("typ") == "baseline" or not row.get("Experiment"):
            continue
        recorded = row["schedule.k"]
        output = read("out.txt", repo=str(root), rev=row["Experiment"])
        assert float(output) == float(recorded), row["Experiment"]
    assert not list(root.rglob(".partial-*"))
