"""The study command for real: a tiny grid through the real DVC queue, then fine-tuning the best."""

import csv
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


def test_study_queues_the_grid_checks_another_split_and_fine_tunes(project, sample_dataset):
    root = project({"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 1})
    (root / "study.yaml").write_text(TINY_GRID)
    (root / "STUDY.md").write_text(
        "# Results\n<!-- verdict-tiny:start -->\nold\n<!-- verdict-tiny:end -->\n"
        "<!-- study-tiny:start -->\nold\n<!-- study-tiny:end -->\n"
    )
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny grid"], root)

    study = [sys.executable, "-m", "lrstudy.study", "--grid", "tiny", "--page", "STUDY.md"]
    first = run([*study, "--jobs", "2", "--splits", "2", "--top", "1"], root)
    assert "3 variants in tiny, 0 already run" in first.stdout
    # On split seed 43: fixed 0.001, the best variant and the claims' variants (exp 0.01/k=0.3,
    # the best step decay): all three here.
    assert "3 variants in tiny on split seeds 43, 0 already run" in first.stdout
    # Three seeds cannot show any difference, so the fixed rate is the one fine-tuned.
    assert "study: fixed-lr0.001 is fine-tuned: no variant is significantly better" in first.stdout

    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    experiments = {
        exp["name"]: exp["revs"][0]["data"]
        for commit in shown
        for exp in (commit.get("experiments") or [])
        if exp.get("name")
    }
    on_split = {f"{name}-split43" for name in VARIANTS}
    assert set(experiments) == VARIANTS | on_split | {"fixed-lr0.001-finetuned"}
    assert experiments["exp-lr0.01-k0.3"]["params"]["params.yaml"]["data"]["schedule"]["k"] == 0.3
    rerun = experiments["exp-lr0.01-k0.3-split43"]["params"]["params.yaml"]["data"]
    assert rerun["split"]["seed"] == 43 and rerun["schedule"]["k"] == 0.3
    finetuned = experiments["fixed-lr0.001-finetuned"]["metrics"]
    assert "finetuned" in finetuned["metrics/evaluate/metrics.json"]["data"]

    with open(root / "metrics" / "study-tiny.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {row["variant"] for row in rows} == VARIANTS and all(row["seeds"] == "3" for row in rows)
    baseline = next(row for row in rows if row["variant"] == "fixed-lr0.001")
    assert baseline["p"] == baseline["outcome"] == ""  # not tested against itself
    assert {row["outcome"] for row in rows} - {""} == {"inconclusive"}
    assert all(row["epochs to 98 % of final"] for row in rows)

    markdown = (root / "metrics" / "study-tiny.md").read_text()
    claims = markdown.split("The reference reports' claims, tested")[1].split("\n\n")[1]
    assert claims.count("| inconclusive | the same |") == 6  # three seeds: no answer, anywhere
    assert "With 3 seeds no difference can reach 0.05: " in markdown
    assert "Rerun on split seeds 42, 43 (2 variants and fixed-lr0.001, 3 seeds each" in markdown
    assert "fixed-lr0.001-finetuned: Fine-tuned model against the head" in markdown
    page = (root / "STUDY.md").read_text()
    assert "\nold\n" not in page and "McNemar's exact test p = " in page
    headline = page.split("<!-- verdict-tiny:start -->\n")[1].split("<!-- verdict-tiny:end")[0]
    assert headline.startswith("The reference reports' claims, tested")
    for family in ("fixed", "exp", "step"):
        for metric in ("accuracy", "loss"):
            with Image.open(root / "plots" / "study-tiny" / f"{family}_{metric}.png") as image:
                assert image.format == "PNG"
    assert (root / "plots" / "study-tiny" / "best_accuracy.png").is_file()
    assert (root / "plots" / "study-tiny" / "final_accuracy.png").is_file()

    figures = {path.name: path.read_bytes() for path in (root / "plots" / "study-tiny").iterdir()}
    again = run([*study, "--splits", "2", "--top", "1"], root)
    assert "3 variants in tiny, 3 already run" in again.stdout
    assert "Running stage" not in again.stdout  # nothing is trained again
    assert (root / "metrics" / "study-tiny.md").read_text() == markdown
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

    study = [sys.executable, "-m", "lrstudy.study", "--grid", "two", "--jobs", "1", "--splits", "1"]
    study = run(study, root)
    assert "2 variants in two, 0 already run" in study.stdout
    assert "waiting also for fixed-lr0.001, left queued by an earlier study" in study.stdout
    assert "exp-lr0.01-k0.3 failed in an earlier study; removing that task" in study.stdout
    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    names = {exp["name"] for commit in shown for exp in (commit.get("experiments") or [])}
    variants = {"exp-lr0.01-k0.3", "fixed-lr0.001"}
    assert len(names) == 3 and variants < names and (names - variants).pop()[:-10] in variants
    assert "Failed" not in queue_status(root)
