"""The study command for real: a tiny grid through the real DVC queue, then fine-tuning the best."""

import json
import sys
import time

import pytest
from PIL import Image

from tests.helpers.commands import dvc, run
from tests.helpers.sandbox import FAST

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

TINY_GRID = """
tiny:
  fixed:
    - {initial_lr: 0.001}
  exp:
    - {initial_lr: 0.01, k: 0.3}
  step:
    - {initial_lr: 0.01, drop: 0.5, epochs_drop: 2}
"""
VARIANTS = {"fixed-lr0.001", "exp-lr0.01-k0.3", "step-lr0.01-drop0.5-every2"}


def test_study_queues_the_grid_picks_the_best_and_fine_tunes_it(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 1})
    (root / "study.yaml").write_text(TINY_GRID)
    (root / "STUDY.md").write_text(
        "# Results\n<!-- verdict-tiny:start -->\nold\n<!-- verdict-tiny:end -->\n"
        "<!-- study-tiny:start -->\nold\n<!-- study-tiny:end -->\n"
    )
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny grid"], root)

    study = [sys.executable, "-m", "lrstudy.study", "--grid", "tiny", "--page", "STUDY.md"]
    first = run([*study, "--jobs", "2"], root)
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

    rows, *verdicts = (root / "metrics" / "study-tiny.md").read_text().split("\n\n")
    rows = rows.splitlines()
    assert len(rows) == 2 + 3 and rows[2].startswith(f"| {best_variant} | 3 | ")
    baseline = next(row for row in rows if row.startswith("| fixed-lr0.001 |"))
    assert baseline.split(" | ")[-4:-1] == ["", "", ""]  # not tested against itself
    # The verdicts: the best against fixed 0.001 (or the baseline itself being best),
    # how many variants differ after Benjamini-Hochberg, and McNemar for fine-tuning.
    if best_variant != "fixed-lr0.001":
        assert verdicts[0].startswith(f"{best_variant} against fixed-lr0.001, paired over 3 seeds")
    assert verdicts[1].startswith("After Benjamini-Hochberg over the 2 comparisons")
    assert f"{best_variant}-finetuned: Fine-tuned model against the head" in verdicts[2]
    assert "McNemar's exact test p = " in verdicts[2]
    readme = (root / "STUDY.md").read_text()
    assert "old" not in readme and verdicts[2].strip() in readme
    headline = readme.split("<!-- verdict-tiny:start -->\n")[1].split("<!-- verdict-tiny:end")[0]
    assert headline == "\n\n".join(verdicts[:2]).strip() + "\n"
    for family in ("fixed", "exp", "step"):
        for metric in ("accuracy", "loss"):
            with Image.open(root / "plots" / "study-tiny" / f"{family}_{metric}.png") as image:
                assert image.format == "PNG"
    assert (root / "plots" / "study-tiny" / "best_accuracy.png").is_file()
    assert (root / "plots" / "study-tiny" / "final_accuracy.png").is_file()

    figures = {path.name: path.read_bytes() for path in (root / "plots" / "study-tiny").iterdir()}
    again = run(study, root)
    assert "3 variants in tiny, 3 already run" in again.stdout
    assert "Running stage" not in again.stdout  # nothing is trained again
    assert {
        path.name: path.read_bytes() for path in (root / "plots" / "study-tiny").iterdir()
    } == figures


TWO_GRID = """
two:
  fixed:
    - {initial_lr: 0.001}
  exp:
    - {initial_lr: 0.01, k: 0.3}
"""


def queue_status(root):
    return dvc("queue", "status", cwd=root).stdout


def wait_until(condition, timeout=300):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(2)


def test_a_variant_that_failed_or_was_left_queued_runs_in_the_next_study(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 1})
    (root / "study.yaml").write_text(TWO_GRID)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "two variants"], root)
    dvc("repro", "baseline", cwd=root)
    run(["git", "add", "dvc.lock"], root)
    # A failed task under a variant's name (the stage refuses k = -1), its worker gone ...
    dvc("exp", "run", "--queue", "-n", "exp-lr0.01-k0.3", "-S", "schedule.k=-1", "train", cwd=root)
    dvc("queue", "start", cwd=root)
    wait_until(lambda: "Failed" in queue_status(root) and "0 active" in queue_status(root))
    # ... and a task queued under the other's name that no worker ran.
    dvc("exp", "run", "--queue", "-n", "fixed-lr0.001", "-S", "schedule.name=fixed", cwd=root)

    study = run([sys.executable, "-m", "lrstudy.study", "--grid", "two", "--jobs", "1"], root)
    assert "2 variants in two, 0 already run" in study.stdout
    assert "waiting also for fixed-lr0.001, left queued by an earlier study" in study.stdout
    assert "exp-lr0.01-k0.3 failed in an earlier study; removing that task" in study.stdout
    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    names = {exp["name"] for commit in shown for exp in (commit.get("experiments") or [])}
    variants = {"exp-lr0.01-k0.3", "fixed-lr0.001"}
    assert len(names) == 3 and variants < names and (names - variants).pop()[:-10] in variants
    assert "Failed" not in queue_status(root)
