"""The study command for real: a tiny grid through the real DVC queue, then fine-tuning the best."""

import json
import sys

import pytest
from PIL import Image

from tests.conftest import FAST, dvc, run

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

TINY_GRID = """
tiny:
  fixed:
    - {initial_lr: 0.01}
  exp:
    - {initial_lr: 0.01, k: 0.3}
  step:
    - {initial_lr: 0.01, drop: 0.5, epochs_drop: 2}
"""
VARIANTS = {"fixed-lr0.01", "exp-lr0.01-k0.3", "step-lr0.01-drop0.5-every2"}


def test_study_queues_the_grid_picks_the_best_and_fine_tunes_it(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 1})
    (root / "study.yaml").write_text(TINY_GRID)
    run(["git", "commit", "-qam", "tiny grid"], root)

    first = run([sys.executable, "-m", "lrstudy.study", "--grid", "tiny", "--jobs", "2"], root)
    assert "3 variants in tiny, 0 already run" in first.stdout
    best = next(
        line for line in first.stdout.splitlines() if line.startswith("study: best variant")
    )
    best_variant = best.split()[3].rstrip(":")
    assert best_variant in VARIANTS

    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    experiments = {
        exp["name"]: exp["revs"][0]["data"]
        for commit in shown
        for exp in (commit.get("experiments") or [])
        if exp.get("name")
    }
    assert set(experiments) == VARIANTS | {f"{best_variant}-finetuned"}
    assert experiments["exp-lr0.01-k0.3"]["params"]["params.yaml"]["data"]["schedule"]["k"] == 0.3
    finetuned = experiments[f"{best_variant}-finetuned"]["metrics"]
    assert "finetune" in finetuned["metrics/evaluate/metrics.json"]["data"]

    table = (root / "metrics" / "study-tiny.md").read_text().splitlines()
    assert len(table) == 2 + 3 and table[2].startswith(f"| {best_variant} |")
    for family in ("fixed", "exp", "step"):
        for metric in ("accuracy", "loss"):
            with Image.open(root / "plots" / "study-tiny" / f"{family}_{metric}.png") as image:
                assert image.format == "PNG"
    assert (root / "plots" / "study-tiny" / "best_accuracy.png").is_file()

    figures = {path.name: path.read_bytes() for path in (root / "plots" / "study-tiny").iterdir()}
    again = run([sys.executable, "-m", "lrstudy.study", "--grid", "tiny"], root)
    assert "3 variants in tiny, 3 already run" in again.stdout
    assert "Running stage" not in again.stdout  # nothing is trained again
    assert {
        path.name: path.read_bytes() for path in (root / "plots" / "study-tiny").iterdir()
    } == figures
