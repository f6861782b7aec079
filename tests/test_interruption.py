"""Interruption: Ctrl-C (SIGINT) or SIGKILL mid-stage never leaves an output DVC would take as
finished, and `dvc repro` afterwards ends with exactly what an uninterrupted run gives."""

import json
import os
import signal
import subprocess
import time

import psutil
import pytest

from lrstudy.experiments import dvc_command
from tests.helpers.commands import dvc, run, stage_env
from tests.helpers.images import copy_sample
from tests.helpers.sandbox import FAST, make_project

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

CHECKPOINT_STATE = "data/checkpoints/finetune/state.json"


def start(root, *dvc_args, output=subprocess.PIPE):
    """`dvc ...` as a user starts it in a terminal: its own process group, output unbuffered."""
    return subprocess.Popen(
        dvc_command(*dvc_args),
        cwd=root,
        env=stage_env(PYTHONUNBUFFERED="1"),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def interrupt_at(runner, marker, signum, timeout=300):
    """Once `marker` is printed, send `signum` to the whole process group, as Ctrl-C in a
    terminal does; returns everything printed."""
    deadline, output = time.monotonic() + timeout, []
    for line in runner.stdout:
        output.append(line)
        if marker in line:
            os.killpg(runner.pid, signum)
            break
        assert time.monotonic() < deadline, "the marker never came"
    else:
        pytest.fail(f"the run ended before printing {marker!r}:\n{''.join(output)}")
    output.append(runner.communicate()[0])
    return "".join(output)


# Each stage's outputs whose bytes an uninterrupted run fixes: folders and files.
OUTPUTS = {
    "fetch": ["data/raw", "metrics/dataset.json"],
    "features": ["data/features"],
    "train": [
        "data/models/scheduled.keras",
        "metrics/train/metrics.json",
        "metrics/train/repeats.json",
    ],
}


def stage_outputs(root, stage):
    """{output: {file: bytes}} of `stage`'s outputs (a missing output: no files)."""
    found = {}
    for output in OUTPUTS[stage]:
        path = root / output
        files = sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []
        found[output] = {
            file.relative_to(root).as_posix(): file.read_bytes() for file in files if file.is_file()
        }
    return found


TRAIN_EPOCHS = 300  # long enough for `train` to be interrupted between its epochs


@pytest.fixture(scope="module")
def shared_project(tmp_path_factory):
    """One project for the whole module: each test interrupts a rerun of a stage it finished."""
    tmp = tmp_path_factory.mktemp("interruption")
    sample = copy_sample(
        tmp / "sample", classes=("Leopards", "crab", "okapi", "kangaroo"), per_class=12
    )
    return make_project(
        tmp / "project", {"data.source": str(sample), **FAST, "head.epochs": TRAIN_EPOCHS}
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize(
    "stage, marker",
    [
        ("fetch", "fetch: reading classes from"),
        ("features", "images through efficientnet_lite0"),
        # tqdm's bar after the first epoch of all seeds (a text-mode pipe splits lines at "\r")
        ("train", f"| 1/{TRAIN_EPOCHS} ["),
    ],
)
def test_an_interrupted_stage_reruns_to_the_same_outputs(shared_project, stage, marker, signum):
    dvc("repro", stage, cwd=shared_project)
    finished = stage_outputs(shared_project, stage)

    runner = start(shared_project, "repro", "--force", "--single-item", stage)
    output = interrupt_at(runner, marker, signum)
    assert runner.returncode != 0, output
    if signum == signal.SIGINT:
        assert (
            f"interrupted: {stage} stopped and wrote no finished output. Run `dvc repro` to "
            "finish it (fine-tuning resumes from its last completed epoch)."
        ) in output, output
        assert "Traceback" not in output, output
    # Each output, folder or file, is there whole or not at all: exactly the finished run's.
    for output, files in stage_outputs(shared_project, stage).items():
        assert files in ({}, finished[output]), output

    rerun = dvc("repro", stage, cwd=shared_project)
    assert stage_outputs(shared_project, stage) == finished  # the model's bytes included
    assert "up to date" in dvc("status", stage, cwd=shared_project).stdout
    if leftovers(shared_project):
        # Only a killed run leaves anything, and it stays only where DVC restored the stage from
        # its run cache instead of running it: ignored by git until the stage next runs.
        assert signum == signal.SIGKILL, output
        assert f"Stage '{stage}' is cached - skipping run" in rerun.stdout
        ignored = ["git", "check-ignore", *map(str, leftovers(shared_project))]
        assert run(ignored, shared_project).returncode == 0  # every one of them
        dvc("repro", "--force", "--single-item", stage, cwd=shared_project)
    assert not leftovers(shared_project)


def leftovers(root):
    return list((root / "data").glob(".fetch-*")) + list((root / "data").glob(".partial-*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_finetune_resumes_from_its_last_epoch(project, sample_dataset, signum):
    root = project(
        {
            "data.source": str(sample_dataset()),
            **FAST,
            "finetune.epochs": 4,
            "finetune.batch_size": 4,
        }
    )
    dvc("repro", "train", cwd=root)

    log = root.parent / "finetune.log"
    # Output to a file: nothing blocks on a full pipe.
    runner = start(root, "repro", "finetune", output=log.open("w"))
    deadline = time.monotonic() + 300
    state = root / CHECKPOINT_STATE
    while not (state.exists() and json.loads(state.read_text())["history"]):
        assert runner.poll() is None and time.monotonic() < deadline, (
            "finetune ended before a checkpoint"
        )
        time.sleep(0.2)
    os.killpg(runner.pid, signum)  # mid-way through the next epoch
    runner.wait()
    output = log.read_text()
    if signum == signal.SIGINT:
        assert "interrupted: finetune stopped" in output and "Traceback" not in output, output
    kept = json.loads(state.read_text())["history"]
    assert 1 <= len(kept) < 4
    assert not (root / "data" / "models" / "finetuned.keras").exists()

    resumed = dvc("repro", "finetune", cwd=root)
    assert f"resuming after epoch {len(kept)} of 4" in resumed.stdout
    logs = root / "metrics" / "finetune"
    curve = (logs / "plots" / "metrics" / "validation" / "accuracy.tsv").read_text().splitlines()
    steps = [line.split("\t")[0] for line in curve]
    assert steps == ["step", "4", "5", "6", "7"]  # no gap, no repeat
    # The epochs done before the kill are kept as they were.
    for line, epoch in zip(curve[1 : 1 + len(kept)], kept, strict=True):
        assert float(line.split("\t")[1]) == epoch["val_accuracy"]
    assert json.loads((logs / "metrics.json").read_text())["step"] == 7
    assert (root / "data" / "models" / "finetuned.keras").is_file()
    assert not (root / "data" / "checkpoints" / "finetune").exists()
    assert "up to date" in dvc("status", "finetune", cwd=root).stdout  # DVC accepts the outputs


def stage_processes(root, stage):
    """Processes running `stage` of the project at `root`."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        command = " ".join(process.info["cmdline"] or [])
        if f"stages.{stage}" in command and process.info["cwd"] == str(root):
            found.append(process)
    return found


def test_a_stage_whose_dvc_is_terminated_stops_too(project, sample_dataset):
    # SIGTERM to `dvc` alone (a job scheduler's, a `kill PID`): DVC forwards it to no one, and
    # the stage, run in a shell, would go on as an orphan, writing behind the next run's back.
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 500})
    dvc("repro", "train", cwd=root)
    log = root.parent / "finetune.log"
    runner = start(root, "repro", "finetune", output=log.open("w"))
    deadline = time.monotonic() + 300
    while not (root / CHECKPOINT_STATE).exists():
        assert runner.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    runner.send_signal(signal.SIGTERM)  # dvc only, not its process group
    runner.wait(timeout=60)
    deadline = time.monotonic() + 30
    while stage_processes(root, "finetune"):
        assert time.monotonic() < deadline, "the stage outlived its dvc"
        time.sleep(0.5)
    # It stopped as Ctrl-C stops it: its checkpoint whole, no output as if finished.
    assert "interrupted: finetune stopped" in log.read_text()
    assert json.loads((root / CHECKPOINT_STATE).read_text())["history"]
    assert not (root / "data" / "models" / "finetuned.keras").exists()
