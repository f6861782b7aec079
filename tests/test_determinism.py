"""Determinism: the same params and data give byte-identical outputs on CPU, stage after stage
(fine-tuning too: its augmentation and training run with TensorFlow's op determinism), and so
a byte-identical dvc.lock: the models are saved without the time (lrstudy/core/outputs.py).
Whatever TensorFlow's thread count: the study's runners give each of its jobs a share of the
cores (lrstudy/experiments.py: variant_env), and a variant must not depend on how many ran."""

import pytest

from tests.helpers.commands import dvc, ran_stages

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

# Everything the stages write, but for their wall times (metrics/times/, no DVC output).
DETERMINISTIC = [
    "data/split",
    "data/features",
    "data/models",
    "metrics/dataset.json",
    "metrics/split.json",
    "metrics/lr_range.json",
    "metrics/baseline",
    "metrics/train",
    "metrics/finetune",
    "metrics/evaluate",
    "metrics/table.md",
    "metrics/table.csv",
    "plots",
]


def snapshot(root):
    files = []
    for name in DETERMINISTIC:
        path = root / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def test_a_forced_rerun_on_one_thread_gives_byte_identical_outputs_and_dvc_lock(pipeline):
    dvc("repro", cwd=pipeline)
    first, lock = snapshot(pipeline), (pipeline / "dvc.lock").read_bytes()
    assert {
        "data/features/features.npy",
        "data/models/scheduled.keras",
        "data/models/finetuned.keras",
        "metrics/train/metrics.json",
        "metrics/baseline/plots/metrics/validation/accuracy.tsv",
        "data/split/training.csv",
        "metrics/finetune/plots/metrics/validation/accuracy.tsv",
        "plots/confusion_matrix.png",
    } <= first.keys()

    one_thread = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    rerun = dvc("repro", "--force", cwd=pipeline, **one_thread)
    stages = ["fetch", "split", "features", "baseline", "train", "lr_range", "finetune"]
    assert ran_stages(rerun.stdout) == [*stages, "evaluate", "report"]
    changed = [name for name, data in snapshot(pipeline).items() if first.get(name) != data]
    assert not changed, f"a rerun changed {changed}"
    assert (pipeline / "dvc.lock").read_bytes() == lock
