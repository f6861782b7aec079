"""Determinism: the same params and data give byte-identical outputs on CPU, stage after stage."""

import shutil

import keras
import numpy as np
import pytest

from tests.conftest import dvc, ran_stages

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

# Everything split, features, baseline and train write, but for their wall times (time.json).
DETERMINISTIC = [
    "data/split",
    "data/features",
    "metrics/dataset.json",
    "metrics/split.json",
    "metrics/baseline",
    "metrics/train",
]


def snapshot(root):
    files = []
    for name in DETERMINISTIC:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files if p.name != "time.json"}


def test_a_forced_rerun_of_every_stage_gives_byte_identical_outputs(pipeline, tmp_path):
    dvc("repro", "baseline", "train", cwd=pipeline)
    first = snapshot(pipeline)
    assert {
        "data/features/train_features.npy",
        "metrics/train/metrics.json",
        "metrics/baseline/plots/metrics/eval/accuracy.tsv",
        "data/split/train.csv",
    } <= first.keys()
    shutil.copy(pipeline / "data" / "models" / "train.keras", tmp_path / "first.keras")

    rerun = dvc("repro", "--force", "baseline", "train", cwd=pipeline)
    assert ran_stages(rerun.stdout) == ["fetch", "split", "features", "baseline", "train"]
    assert snapshot(pipeline) == first
    weights = [
        keras.models.load_model(path).get_weights()
        for path in (tmp_path / "first.keras", pipeline / "data" / "models" / "train.keras")
    ]
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))
