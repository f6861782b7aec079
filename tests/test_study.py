"""The study command for real: a tiny grid in kept checkouts (and through DVC's real queue),
every variant on every fold, then fine-tuning the best."""

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from dvc.api import read as read_in_repo
from PIL import Image
from scipy import stats

from tests.helpers.commands import dvc, run, stage_env
from tests.helpers.sandbox import FAST, set_params

pytestmark = pytest.mark.slow  # real DVC pipelines: minutes

# A grid whose verdicts are known before it runs: a rate so small that the head hardly leaves
# its initial weights (worse than fixed 0.001 on every seed), fixed 0.001's own schedule under
# another name (exp with k = 0: the same curves on every seed, so equivalent), and the reference
# reports' exponential decay, whose claims the study answers.
VERDICT_GRID = """
verdicts:
  fixed:
    - {initial_lr: 0.001}
    - {initial_lr: 1.0e-7}
  exp:
    - {initial_lr: 0.001, k: 0}
    - {initial_lr: 0.01, k: 0.3}
"""
BASELINE, WRECKED, SAME, CLAIMED = (
    "fixed-lr0.001",
    "fixed-lr1e-07",
    "exp-lr0.001-k0",
    "exp-lr0.01-k0.3",
)
SCHEDULES = {  # each variant's schedule.name, initial_lr and k (None: not exp)
    BASELINE: ("fixed", 0.001, None),
    WRECKED: ("fixed", 1e-7, None),
    SAME: ("exp", 0.001, 0),
    CLAIMED: ("exp", 0.01, 0.3),
}
VARIANTS = set(SCHEDULES)
# Seven seeds: the sign-flip test's smallest p, 2/2^7, stays below 0.05 after Benjamini-Hochberg
# over the grid's three comparisons when only one differs (6 seeds would not: 2/2^6 * 2 > 0.05).
SEEDS = 7


def experiment_data(root):
    """{experiment name: its `dvc exp show --json` data}."""
    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    return {
        exp["name"]: exp["revs"][0]["data"]
        for commit in shown
        for exp in (commit.get("experiments") or [])
        if exp.get("name")
    }


def test_study_reaches_the_verdicts_its_grid_holds_checks_another_split_and_fine_tunes(
    project, sample_dataset
):
    source = sample_dataset(per_class=20)  # 3 validation images of each of the 3 classes
    root = project(
        {"data.source": str(source), **FAST, "head.repeats": SEEDS, "finetune.epochs": 1}
    )
    (root / "study.yaml").write_text(VERDICT_GRID)
    (root / "STUDY.md").write_text(
        "# Results\n<!-- verdict-verdicts:start -->\nold\n<!-- verdict-verdicts:end -->\n"
        "<!-- study-verdicts:start -->\nold\n<!-- study-verdicts:end -->\n"
    )
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "the verdicts grid"], root)

    study = [sys.executable, "-m", "lrstudy.study", "--grid", "verdicts", "--page", "STUDY.md"]
    first = run([*study, "--jobs", "2"], root)
    assert "4 variants in verdicts, 0 already run" in first.stdout

    with open(root / "metrics" / "study-verdicts.csv", newline="") as file:
        rows = {row["variant"]: row for row in csv.DictReader(file)}
    assert set(rows) == VARIANTS and {row["folds x seeds"] for row in rows.values()} == {
        f"5 x {SEEDS}"
    }
    assert rows[BASELINE]["p (BH)"] == rows[BASELINE]["outcome"] == ""  # not against itself
    difference = "vs fixed-lr0.001 (points, 90 % interval)"
    assert rows[WRECKED]["outcome"] == "worse" and float(rows[WRECKED]["p (BH)"]) < 0.05
    assert float(rows[WRECKED][difference].split()[0]) < -20
    assert rows[SAME]["outcome"] == "equivalent"  # the same heads, image for image
    assert rows[SAME][difference] == "+0.00 [+0.00, +0.00]" and rows[SAME]["p (BH)"] == "1"
    assert rows[SAME]["test accuracy"] == rows[BASELINE]["test accuracy"]
    assert list(rows)[-1] == WRECKED  # ranked last

    # The runs behind the table: each variant its own experiment, with its own params, every
    # image tested once over the folds.
    runs = json.loads((root / "metrics" / "study-verdicts-runs.json").read_text())
    experiments = experiment_data(root)
    assert sum(runs["folds"]["images"]["test"]) == 60  # the 3 classes x 20 images, once each
    assert len(runs["folds"]["seeds"]) == SEEDS
    for name, (schedule, initial_lr, k) in SCHEDULES.items():
        params = experiments[name]["params"]["params.yaml"]["data"]["schedule"]
        assert (params["name"], params["initial_lr"]) == (schedule, initial_lr), name
        assert k is None or params["k"] == k, name
        assert len(runs["runs"][name]["test_right"]) == 5 * SEEDS  # a head per fold and seed
    assert runs["runs"][SAME] == runs["runs"][BASELINE]
    assert runs["runs"][WRECKED] != runs["runs"][BASELINE]

    # The fine-tuned variant follows the stated rule, from the table's own outcomes.
    better = [name for name, row in rows.items() if row["outcome"] == "better"]
    fine_tuned = better[0] if better else BASELINE
    assert f"study: {fine_tuned} is fine-tuned" in first.stdout
    assert runs["fine_tuning"]["experiment"] == f"{fine_tuned}-finetuned"
    assert (
        "finetuned"
        in experiments[f"{fine_tuned}-finetuned"]["metrics"]["metrics/evaluate/metrics.json"][
            "data"
        ]
    )

    markdown = (root / "metrics" / "study-verdicts.md").read_text()
    claims = markdown.split("The reference reports' claims, tested")[1].split("\n\n")[1]
    assert claims.count(f"| {CLAIMED} |") == 3  # accuracy, convergence and loss
    assert f"{fine_tuned}-finetuned: Fine-tuned model against the head" in markdown
    page = (root / "STUDY.md").read_text()
    assert "\nold\n" not in page and "McNemar's exact test p = " in page
    headline = page.split("<!-- verdict-verdicts:start -->\n")[1].split("<!-- verdict-")[0]
    assert headline.startswith("The reference reports' claims, tested")
    for family in ("fixed", "exp"):
        for metric in ("accuracy", "loss"):
            with Image.open(root / "plots" / "study-verdicts" / f"{family}_{metric}.png") as image:
                assert image.format == "PNG"
    assert (root / "plots" / "study-verdicts" / "best_accuracy.png").is_file()
    assert (root / "plots" / "study-verdicts" / "test_accuracy.png").is_file()

    published = {
        path.relative_to(root): path.read_bytes()
        for path in [*(root / "plots" / "study-verdicts").iterdir(), root / "STUDY.md"]
        + [root / "metrics" / f"study-verdicts.{suffix}" for suffix in ("md", "csv")]
    }
    again = run(study, root)
    assert "4 variants in verdicts, 4 already run" in again.stdout
    assert "Running stage" not in again.stdout  # nothing is trained again
    reanalysed = run([*study, "--reanalyse"], root)
    assert "Running stage" not in reanalysed.stdout + reanalysed.stderr
    for path, data in published.items():
        assert (root / path).read_bytes() == data, path


TUNED_GRID = """
tuned:
  trials: 8
  seed: 0
  space:
    fixed: {initial_lr: [1.0e-4, 1.0e-1, log]}
    exp: {initial_lr: [1.0e-4, 1.0e-1, log], k: [0.02, 0.5]}
"""


def study_project(project, sample_dataset, grids, grid, params=None):
    """A FAST project (one fine-tuning epoch, and `params`) committed with `grids` as its
    study.yaml and a README holding the grid's verdict block: (its root, the study command
    that fills it)."""
    overrides = {"data.source": str(sample_dataset()), **FAST, "finetune.epochs": 1}
    root = project({**overrides, **(params or {})})
    (root / "study.yaml").write_text(grids)
    (root / "README.md").write_text(
        f"<!-- verdict-{grid}:start -->\nold\n<!-- verdict-{grid}:end -->\n"
    )
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", f"the grid {grid}"], root)
    return root, [sys.executable, "-m", "lrstudy.study", "--grid", grid, "--page", "README.md"]


def test_a_tuned_grid_selects_on_validation_judges_on_test_and_reruns_the_winners(
    project, sample_dataset
):
    root, study = study_project(project, sample_dataset, TUNED_GRID, "tuned")
    params = (root / "params.yaml").read_text()
    first = run([*study, "--trials", "2", "--jobs", "2"], root)
    assert (root / "params.yaml").read_text() == params  # every run queued: the workspace kept
    assert "5 variants in tuned, 0 already run" in first.stdout  # 2 trials a family, fixed 0.001

    runs = json.loads((root / "metrics" / "study-tuned-runs.json").read_text())
    assert runs["kind"] == "tuned" and runs["baseline"] == "fixed-lr0.001"
    trials = {}
    for name, record in runs["variants"].items():
        trials.setdefault(record["family"], []).append(name)
    assert trials.pop(None) == ["fixed-lr0.001"]  # the baseline, in no family
    assert runs["budget"] == 2 and {len(names) for names in trials.values()} == {2}
    assert set(runs["runs"]) == {*trials["fixed"], *trials["exp"], "fixed-lr0.001"}

    def validation(name, fold):  # what a fold's winner is chosen on: its images right there,
        heads = slice(fold * 3, fold * 3 + 3)  # 3 seeds (FAST), ties to the lower loss
        right = sum(curve[-1] for curve in runs["runs"][name]["val_right"][heads])
        return right, -sum(runs["runs"][name]["final_val_loss"][heads])

    with open(root / "metrics" / "study-tuned.csv", newline="") as file:
        rows = {row["family"]: row for row in csv.DictReader(file)}
    assert set(rows) == {"fixed", "exp"} and {row["trials"] for row in rows.values()} == {"2"}
    for family, row in rows.items():
        chosen = [max(trials[family], key=lambda name: validation(name, fold)) for fold in range(5)]
        winner = row["winner (most folds)"]
        assert winner in trials[family] and row["folds choosing it"].endswith(" of 5")
        assert int(row["folds choosing it"].split()[0]) == chosen.count(winner)
    assert runs["fine_tuning"]["variant"] in trials["fixed"] + trials["exp"]
    with Image.open(root / "plots" / "study-tuned" / "sensitivity.png") as image:
        assert image.format == "PNG" and image.size[0] >= 800
    page = (root / "README.md").read_text()
    assert "\nold\n" not in page and "Tuned with 2 trials per family" in page

    published = {
        name: (root / "metrics" / name).read_bytes()
        for name in ("study-tuned.md", "study-tuned.csv")
    }
    run([*study, "--reanalyse"], root)
    assert {name: (root / "metrics" / name).read_bytes() for name in published} == published


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

    command = [sys.executable, "-m", "lrstudy.study", "--grid", "two", "--jobs", "2", "--queue"]
    # A task of the user's own, queued before: `dvc queue start` would run it too.
    dvc("exp", "run", "--queue", "-n", "mine", "-S", "schedule.k=0.2", "train", cwd=root)
    refused = run(command, root, check=False)
    assert refused.returncode == 1 and refused.stderr == (
        "error: DVC's queue holds 1 task(s) that are not this study's (mine), and `dvc queue "
        "start` would run them too: run them first (`dvc queue start`), remove them (`dvc "
        "queue remove NAME`), or pass --run-others-queued\n"
    )
    dvc("queue", "remove", "mine", cwd=root)
    study = run(command, root)
    assert "2 variants in two, 0 already run" in study.stdout
    assert "waiting also for fixed-lr0.001, left queued by an earlier study" in study.stdout
    assert "exp-lr0.01-k0.3 failed in an earlier study; removing that task" in study.stdout
    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    names = {exp["name"] for commit in shown for exp in (commit.get("experiments") or [])}
    variants = {"exp-lr0.01-k0.3", "fixed-lr0.001"}
    assert len(names) == 3 and variants < names and (names - variants).pop()[:-10] in variants
    assert "Failed" not in queue_status(root)

    # A variant's name on an experiment that ran other params is not reused, and the queue
    # does not take uncommitted changes into the variants.
    dvc("exp", "remove", "fixed-lr0.001", cwd=root)
    other = (
        "-S",
        "schedule.name=fixed",
        "-S",
        "schedule.initial_lr=0.001",
        "-S",
        "head.dropout=0.5",
    )
    dvc("exp", "run", "-n", "fixed-lr0.001", *other, "train", cwd=root)
    run(["git", "checkout", "params.yaml"], root)  # `dvc exp run` left its values there
    refused = run(command, root, check=False)
    assert refused.returncode == 1 and refused.stderr.startswith(
        "error: 1 experiments of this grid ran something else than it would run now "
        "(fixed-lr0.001: other params (head.dropout 0.5, now 0.0)): remove them"
    )
    set_params(root / "params.yaml", {"head.dropout": 0.5})
    refused = run(command, root, check=False)
    assert refused.stderr == (
        "error: queued variants run the commit, not your uncommitted params.yaml: commit them\n"
    )


def test_a_grid_under_a_regime_is_a_study_of_its_own_on_fewer_training_images(
    project, sample_dataset
):
    grids = TWO_GRID + "regimes:\n  three-per-class: {split.training_per_class: 3}\n"
    root, study = study_project(project, sample_dataset, grids, "two+three-per-class")
    grid = study.index("--grid") + 1
    study[grid : grid + 1] = ["two", "--regime", "three-per-class"]
    params = (root / "params.yaml").read_text()
    first = run([*study, "--jobs", "2"], root)
    assert "2 variants in two+three-per-class, 0 already run" in first.stdout
    assert (root / "params.yaml").read_text() == params  # the workspace's params untouched

    runs = json.loads((root / "metrics" / "study-two+three-per-class-runs.json").read_text())
    assert (
        runs["grid"] == "two+three-per-class"
        and runs["baseline"] == "fixed-lr0.001+three-per-class"
    )
    assert runs["regime"] == {
        "name": "three-per-class",
        "settings": {"split.training_per_class": 3},
    }
    assert set(runs["variants"]) == {"exp-lr0.01-k0.3+three-per-class", runs["baseline"]}
    assert runs["folds"]["images"]["training"] == 3 * 3  # three of each of the three classes
    data = experiment_data(root)
    for name in runs["variants"]:
        assert data[name]["params"]["params.yaml"]["data"]["split"]["training_per_class"] == 3
    split = json.loads(read_in_repo("metrics/split.json", repo=str(root), rev=runs["baseline"]))
    assert {counts["training"] for counts in split["images_per_class"].values()} == {3}
    table = (root / "metrics" / "study-two+three-per-class.md").read_text()
    assert "Regime three-per-class: split.training_per_class = 3 for every variant" in table
    again = run([*study, "--reanalyse"], root)
    assert (root / "metrics" / "study-two+three-per-class.md").read_text() == table, again.stdout


def processes_in(folder):
    """The processes working in `folder` or below it."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"]
        if cwd and Path(cwd).is_relative_to(folder):
            found.append(process)
    return found


def test_an_interrupted_study_records_no_half_variant_and_the_next_one_runs_it(
    project, sample_dataset
):
    root, _ = study_project(project, sample_dataset, TWO_GRID, "two")
    command = [sys.executable, "-m", "lrstudy.study", "--grid", "two", "--jobs", "1"]
    checkouts = root / ".dvc" / "tmp" / "lrstudy-checkouts"
    study = subprocess.Popen(
        command,
        cwd=root,
        env=stage_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def training():
        logs = checkouts.glob("logs/*.log")
        return any("Running stage 'train'" in log.read_text() for log in logs)

    wait_until(training, timeout=600)
    study.send_signal(signal.SIGINT)  # once: a second one, as from an impatient user, kills it
    stderr = study.communicate(timeout=120)[1]
    assert study.returncode == 130 and "interrupted: the study stopped" in stderr
    assert not processes_in(checkouts)  # its `dvc exp run` and stage stopped with it
    assert not set(experiment_data(root)) & {"fixed-lr0.001", "exp-lr0.01-k0.3"}

    rerun = run(command, root)
    assert "2 variants in two, 0 already run" in rerun.stdout
    assert "study: 2 variants ran in" in rerun.stdout
    # The checkout keeps the shared stages' outputs, though neither they nor dvc.lock are
    # committed here: the second variant runs `train` alone.
    last = max(checkouts.glob("logs/*.log"), key=lambda log: log.stat().st_mtime).read_text()
    assert "Stage 'split' didn't change, skipping" in last and "Running stage 'split'" not in last
    assert {"fixed-lr0.001", "exp-lr0.01-k0.3"} <= set(experiment_data(root))
    assert not run(["git", "status", "--porcelain", "params.yaml"], root).stdout

    # A variant removed from the project runs again, though its checkout still holds it.
    dvc("exp", "remove", "exp-lr0.01-k0.3", cwd=root)
    again = run(command, root)
    assert "2 variants in two, 1 already run" in again.stdout
    assert "exp-lr0.01-k0.3" in experiment_data(root)

    # A project moved elsewhere makes its checkouts anew: theirs point at the old place.
    moved = root.parent / "moved"
    shutil.copytree(root, moved, symlinks=True)
    dvc("exp", "remove", "exp-lr0.01-k0.3", cwd=moved)
    run(command, moved)
    local = (moved / ".dvc/tmp/lrstudy-checkouts/1/.dvc/config.local").read_text()
    assert f"dir = {moved}/.dvc/cache" in local and "exp-lr0.01-k0.3" in experiment_data(moved)

    # What the checkouts run is the commit: uncommitted params are refused.
    set_params(root / "params.yaml", {"head.dropout": 0.5})
    refused = run(command, root, check=False)
    assert refused.returncode == 1 and refused.stderr == (
        "error: the study's checkouts run the commit, not your uncommitted params.yaml: "
        "commit them\n"
    )


FINETUNING_GRID = """
finetuning:
  finetune:
    fixed:
      - {initial_lr: 0.001}
"""


def test_a_fine_tuning_grid_tests_each_schedule_against_params_yaml_image_by_image(
    project, sample_dataset
):
    root, study = study_project(project, sample_dataset, FINETUNING_GRID, "finetuning")
    params = (root / "params.yaml").read_text()
    first = run([*study, "--jobs", "2"], root)
    assert (root / "params.yaml").read_text() == params
    assert "2 variants in finetuning, 0 already run" in first.stdout  # and params.yaml's

    record = json.loads((root / "metrics" / "study-finetuning-runs.json").read_text())
    reference, variant = "finetune-fixed-lr1e-05", "finetune-fixed-lr0.001"
    assert record["kind"] == "finetuning" and record["baseline"] == reference
    assert set(record["runs"]) == {reference, variant}
    schedule = {"name": "fixed", "initial_lr": 0.001}
    assert record["variants"][variant] == {"family": "fixed", "schedule": schedule}
    runs = record["runs"]
    assert runs[reference]["labels"] == runs[variant]["labels"]  # one split, one test set
    assert [len(run["val_accuracy"][1]) for run in runs.values()] == [1, 1]

    def right(name):
        return [
            label == guess
            for label, guess in zip(runs[name]["labels"], runs[name]["predicted"], strict=True)
        ]

    only_here = sum(
        mine and not theirs for mine, theirs in zip(right(variant), right(reference), strict=True)
    )
    only_there = sum(
        theirs and not mine for mine, theirs in zip(right(variant), right(reference), strict=True)
    )
    with open(root / "metrics" / "study-finetuning.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["variant"] for row in rows] == [reference, variant]
    assert rows[0]["vs the reference"] == "(reference)"
    assert rows[1]["right only here / only in the reference"] == f"{only_here} / {only_there}"
    discordant = only_here + only_there
    p_value = stats.binomtest(only_here, discordant).pvalue if discordant else 1.0
    assert float(rows[1]["McNemar p (BH)"]) == pytest.approx(p_value, rel=1e-2)
    with Image.open(root / "plots" / "study-finetuning" / "finetune_accuracy.png") as image:
        assert image.format == "PNG"
    page = (root / "README.md").read_text()
    assert "\nold\n" not in page and f"Fine-tuning schedules against {reference}" in page

    published = (root / "metrics" / "study-finetuning.md").read_bytes()
    run([*study, "--reanalyse"], root)
    assert (root / "metrics" / "study-finetuning.md").read_bytes() == published


SGD_GRID = """
sgd:
  exp:
    - {initial_lr: 0.01, k: 0.3}
"""


def test_a_grid_under_sgd_is_compared_with_sgd_at_the_baseline_rate(project, sample_dataset):
    root, study = study_project(
        project, sample_dataset, SGD_GRID, "sgd", {"train.optimizer": "sgd"}
    )
    first = run([*study, "--jobs", "2"], root)
    # The grid does not list the baseline: params.yaml's baseline.lr, trained by SGD, runs too.
    baseline, variant = "sgd-m0.9-fixed-lr0.001", "sgd-m0.9-exp-lr0.01-k0.3"
    assert "2 variants in sgd, 0 already run" in first.stdout

    with open(root / "metrics" / "study-sgd.csv", newline="") as file:
        rows = {row["variant"]: row for row in csv.DictReader(file)}
    assert set(rows) == {baseline, variant}
    assert rows[baseline]["p (BH)"] == rows[baseline]["outcome"] == ""  # the baseline's own row
    assert rows[variant]["p (BH)"] and rows[variant]["outcome"]
    assert f"vs {baseline} (points, 90 % interval)" in rows[variant]
    runs = json.loads((root / "metrics" / "study-sgd-runs.json").read_text())
    assert runs["baseline"] == baseline
    assert runs["variants"][baseline] == {
        "family": None,
        "optimizer": "sgd",
        "schedule": {"name": "fixed", "initial_lr": 0.001},
    }
    assert runs["variants"][variant]["family"] == "exp"
    experiments = experiment_data(root)
    for name in (baseline, variant):
        assert experiments[name]["params"]["params.yaml"]["data"]["train"]["optimizer"] == "sgd"
    # The reports' claims are Adam's: the verdict block is the best variant's own verdict.
    page = (root / "README.md").read_text()
    verdict = page.split("<!-- verdict-sgd:start -->\n")[1].split("<!-- verdict-sgd:end")[0]
    assert verdict.startswith((f"The best variant, {variant}, against {baseline}", baseline))
    for figure in ("exp_accuracy", "exp_loss", "best_accuracy", "test_accuracy"):
        with Image.open(root / "plots" / "study-sgd" / f"{figure}.png") as image:
            assert image.format == "PNG"
