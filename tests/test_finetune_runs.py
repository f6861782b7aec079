"""Fine-tuning for real, replicated on two logical CPUs (its resumption: test_interruption.py)."""

import json
import sys

import pytest

from tests.helpers.commands import dvc, run
from tests.helpers.sandbox import FAST

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

TWO_CPU_REPLICAS = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from stages.finetune import main
main()
"""


def test_finetune_runs_under_mirrored_strategy_on_two_logical_cpus(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "backbone.strategy": "mirrored"})
    dvc("repro", "train", cwd=root)
    result = run([sys.executable, "-c", TWO_CPU_REPLICAS], root)
    assert "devices: 2 replica(s) with MirroredStrategy, float32 precision" in result.stdout
    summary = json.loads((root / "metrics" / "finetune" / "metrics.json").read_text())
    assert summary["step"] == FAST["head.epochs"] + FAST["finetune.epochs"] - 1
