"""Determinism: the same params and data give byte-identical outputs on CPU, stage after stage
(fine-tuning too: its augmentation and training run with TensorFlow's op determinism)."""

import shutil

import keras
import numpy as np
import pytest

from tests.helpers.commands import dvc, ran_stages

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

# Everything split, features, baseline, train and finetune write, but for their wall times.
DETERMINISTIC = [
    "data/split",
    "data/features",
    "metrics/dataset.json",
    "metrics/split.json",
    "metrics/baseline",
    "metrics/train",
    "metrics/finetune",
]
MODELS = ("train.keras", "finetune.keras")


def snapshot(root):
    files = []
    for name in DETERMINISTIC:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files if p.name != "time.json"}


def test_a_forced_rerun_of_every_stage_gives_byte_identical_outputs(pipeline, tmp_path):
    dvc("repro", "baseline", "finetune", cwd=pipeline)
    first = snapshot(pipeline)
    assert {
        "data/features/train_features.npy",
        "metrics/train/metrics.json",
        "metrics/baseline/plots/metrics/eval/accuracy.tsv",
        "data/split/train.csv",
        "metrics/finetune/plots/metrics/eval/accuracy.tsv",
    } <= first.keys()
    for model in MODELS:
        shutil.copy(pipeline / "data" / "models" / model, tmp_path / model)

    rerun = dvc("repro", "--force", "baseline", "finetune", cwd=pipeline)
    stages = ["fetch", "split", "features", "baseline", "train", "finetune"]
    assert ran_stages(rerun.stdout) == stages
    assert snapshot(pipeline) == first
    for model in MODELS:  # the .keras zip holds timestamps: compare the weights
        weights = [
            keras.models.load_model(path).get_weights()
            for path in (tmp_path / model, pipeline / "data" / "models" / model)
        ]
        assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True)), model
