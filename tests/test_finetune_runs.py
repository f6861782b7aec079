"""Fine-tuning for real: interrupted and resumed under `dvc repro`, and replicated on two CPUs."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import dvc, run, stage_env
from tests.test_pipeline import FAST

CHECKPOINT_STATE = "data/checkpoints/finetune/state.json"


def test_killed_finetune_resumes_from_its_last_epoch(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 4, "finetune.batch_size": 4})
    dvc("repro", "train", cwd=root)

    runner = subprocess.Popen(
        [sys.executable, "-m", "dvc", "repro", "finetune"], cwd=root, env=stage_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    state = root / CHECKPOINT_STATE
    while not (state.exists() and json.loads(state.read_text())["history"]):
        assert runner.poll() is None and time.monotonic() < deadline, "finetune ended before a checkpoint"
        time.sleep(0.2)
    os.killpg(runner.pid, signal.SIGKILL)  # mid-way through the next epoch
    runner.wait()
    kept = json.loads(state.read_text())["history"]
    assert 1 <= len(kept) < 4

    resumed = dvc("repro", "finetune", cwd=root)
    assert f"resuming after epoch {len(kept) - 1} of 4" in resumed.stdout
    logs = root / "metrics" / "finetune"
    curve = (logs / "plots" / "metrics" / "eval" / "accuracy.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in curve] == ["step", "4", "5", "6", "7"]  # no gap, no repeat
    for line, epoch in zip(curve[1:], kept):  # the epochs done before the kill are kept as they were
        assert float(line.split("\t")[1]) == epoch["val_accuracy"]
    assert json.loads((logs / "metrics.json").read_text())["step"] == 7
    assert (root / "data" / "models" / "finetune.keras").is_file()
    assert not (root / "data" / "checkpoints" / "finetune").exists()
    assert "up to date" in dvc("status", "finetune", cwd=root).stdout  # DVC accepts the outputs


TWO_CPU_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from stages.finetune import main
main()
"""


def test_finetune_runs_under_mirrored_strategy_on_two_logical_cpus(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "model.strategy": "mirrored"})
    dvc("repro", "train", cwd=root)
    result = run([sys.executable, "-c", TWO_CPU_REPLICAS], root)
    assert "devices: 2 replica(s) with MirroredStrategy, float32 precision" in result.stdout
    summary = json.loads((root / "metrics" / "finetune" / "metrics.json").read_text())
    assert summary["step"] == FAST["train.epochs"] + FAST["finetune.epochs"] - 1
