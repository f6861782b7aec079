"""`make compare`: any experiments against HEAD's baseline with the study's tests, on the
committed per-seed results in rows shaped as `dvc exp show --json` gives them, and for real
through DVC's queue on a sweep made with DVC's own syntax."""

import copy
import csv
import json
import sys
import time

import pytest
import yaml

from lrstudy.core.errors import UserError
from lrstudy.study import folds
from lrstudy.study.compare import WIDTH, render, report
from lrstudy.study.experiment_verdicts import candidates, differences, fine_tuned, judge, select
from tests.helpers.commands import dvc, run
from tests.helpers.sandbox import FAST, REPO_ROOT, committed_params

BASELINE_FOLDS = json.loads((REPO_ROOT / "metrics" / "baseline" / "folds.json").read_text())
TRAIN_FOLDS = json.loads((REPO_ROOT / "metrics" / "train" / "folds.json").read_text())


def revision(overrides=(), baseline_hash="base"):
    """An experiment's (or HEAD's) row data: its params (committed ones with `overrides`) and
    the hash dvc.lock gives its baseline's output."""
    params = committed_params(dict(overrides))
    return {
        "params": {"params.yaml": {"data": params}},
        "metrics": {},
        "outs": {"metrics/baseline": {"hash": baseline_hash}},
        "deps": {},
    }


def lock_of(params):
    groups = {group: params[group] for group in ("head", "train", "schedule")}
    return yaml.safe_dump({"stages": {"train": {"params": {"params.yaml": groups}}}})


class Project:
    """HEAD and its experiments: what `dvc exp show --json` shows and the files `read` gives."""

    def __init__(self):
        self.head = revision()
        self.files = {
            ("metrics/baseline/folds.json", "head"): json.dumps(BASELINE_FOLDS),
            ("metrics/train/folds.json", "head"): json.dumps(TRAIN_FOLDS),
            ("dvc.lock", "head"): lock_of(self.params(self.head)),
        }
        self.experiments = []

    @staticmethod
    def params(data):
        return data["params"]["params.yaml"]["data"]

    def add(self, name, overrides=(), state="success", ran=None, train=TRAIN_FOLDS, **options):
        data = revision(overrides, **options)
        ran_with = self.params(revision(ran)) if ran is not None else self.params(data)
        self.files[("dvc.lock", name)] = lock_of(ran_with)
        self.files[("metrics/train/folds.json", name)] = json.dumps(train)
        executor = {"state": state}
        self.experiments.append(
            {"name": name, "executor": executor, "revs": [{"rev": name, "data": data}]}
        )

    def shown(self):
        return [
            {"rev": "workspace", "data": self.head},
            {"rev": "head", "data": self.head, "experiments": self.experiments},
        ]

    def read(self, path, rev):
        try:
            return self.files[(path, rev)]
        except KeyError:
            raise FileNotFoundError(path) from None


def sweep_project():
    project = Project()
    project.add("k-0.3", {"schedule.k": 0.3})
    project.add("queued", {"schedule.k": 0.2}, state="queued")
    project.add("epochs-20", {"head.epochs": 20, "schedule.k": 0.3}, baseline_hash="other")
    project.add("stopped", {"schedule.k": 0.5}, ran={})
    other_seeds = copy.deepcopy(TRAIN_FOLDS)
    other_seeds["seeds"] = [seed + 100 for seed in other_seeds["seeds"]]
    project.add("seeds", {"schedule.k": 0.4}, train=other_seeds)
    return project


def accuracy_difference(train, baseline):
    """The difference in cross-validated test accuracy, from the folds' own records."""
    (shape, runs), (_, base) = folds.fold_runs(train), folds.fold_runs(baseline)
    return folds.outcomes(shape, runs).mean() - folds.outcomes(shape, base).mean()


def test_each_experiment_is_judged_against_heads_baseline_or_left_out_with_its_reason():
    project = sweep_project()
    judged = judge(project.shown(), project.read)
    assert judged["baseline"] == "HEAD's fixed-lr0.001"
    assert judged["left_out"] == {
        "queued": "queued, not run yet (`dvc queue start`)",
        "epochs-20": "its baseline is not HEAD's: it changes head.epochs=20",
        "stopped": "its `train` did not run with its params (the run stopped before `train`)",
        "seeds": "trained on other folds or seeds (seeds [142, 143, 144, 145, 146, 147, 148, "
        "149, 150, 151]) than HEAD's baseline (seeds [42, 43, 44, 45, 46, 47, 48, 49, 50, 51])",
    }
    rows = {row["experiment"]: row for row in judged["rows"]}
    assert judged["rows"][0]["experiment"] == "HEAD" and set(rows) == {
        "HEAD",
        "k-0.3",
        "HEAD's fixed-lr0.001",
    }
    assert rows["k-0.3"]["differs from HEAD"] == "k0.3" and rows["HEAD"]["differs from HEAD"] == ""
    expected = accuracy_difference(TRAIN_FOLDS, BASELINE_FOLDS)
    for name in ("HEAD", "k-0.3"):  # the same heads: the same comparison
        test = judged["tests"][name]
        assert test["difference"] == pytest.approx(expected, abs=1e-6)
        low, high = test["interval"]
        assert low < expected < high
        assert rows[name]["outcome"] in ("better", "worse", "equivalent", "not resolved")
    assert rows["HEAD's fixed-lr0.001"]["vs baseline, 90 % interval"] == ""
    assert "Benjamini-Hochberg over the 2 experiments compared" in judged["note"]


def test_heads_train_gets_the_comparison_the_committed_study_gives_the_same_variant():
    # HEAD's params.yaml schedule is the reference grid's exp-lr0.01-k0.1, trained on the same
    # folds and seeds: the same heads, so the same difference and interval (p differs: BH is
    # over this table's comparisons, not the grid's).
    params = committed_params()["schedule"]
    assert (params["name"], params["initial_lr"], params["k"]) == ("exp", 0.01, 0.1)
    project = Project()
    judged = judge(project.shown(), project.read)
    with open(REPO_ROOT / "metrics" / "study-reference.csv", newline="", encoding="utf-8") as file:
        study = {row["variant"]: row for row in csv.DictReader(file)}
    (head,) = [row for row in judged["rows"] if row["experiment"] == "HEAD"]
    assert (
        head["vs baseline, 90 % interval"]
        == study["exp-lr0.01-k0.1"]["vs fixed-lr0.001 (points, 90 % interval)"]
    )
    assert head["outcome"] == study["exp-lr0.01-k0.1"]["outcome"]


def test_a_sweep_keeps_the_experiments_that_differ_from_head_in_its_params_alone():
    project = sweep_project()
    found = [entry[0] for entry in select(candidates(project.shown()), (), ["schedule.k"])]
    assert found == ["HEAD", "k-0.3", "queued", "stopped", "seeds"]  # not epochs-20
    named = judge(project.shown(), project.read, names=["k-0.3"])
    assert {row["experiment"] for row in named["rows"]} == {"HEAD", "k-0.3", "HEAD's fixed-lr0.001"}
    with pytest.raises(UserError, match=r"^no experiment nope of HEAD; its experiments: k-0.3, "):
        judge(project.shown(), project.read, names=["nope"])
    with pytest.raises(UserError, match=r"^--sweep schedule.q: no such param in params.yaml$"):
        judge(project.shown(), project.read, sweep=["schedule.q"])


def test_a_head_without_a_committed_baseline_is_one_line():
    project = Project()
    del project.files[("metrics/baseline/folds.json", "head")]
    with pytest.raises(UserError) as raised:
        judge(project.shown(), project.read)
    assert str(raised.value) == (
        "HEAD has no metrics/baseline/folds.json: `dvc repro`, then commit dvc.lock and metrics/"
    )


def test_a_small_rate_written_by_dvc_exp_run_is_the_same_param_in_dvc_lock():
    project = Project()
    project.add("tiny", {"schedule.initial_lr": 1e-05})
    lock = yaml.safe_load(project.files[("dvc.lock", "tiny")])
    lock["stages"]["train"]["params"]["params.yaml"]["schedule"]["initial_lr"] = "1e-05"
    project.files[("dvc.lock", "tiny")] = yaml.safe_dump(lock)
    assert "tiny" in judge(project.shown(), project.read)["tests"]


def test_differences_name_the_schedule_by_its_short_params():
    head = {"schedule.name": "exp", "schedule.initial_lr": 0.01, "schedule.k": 0.1, "head.seed": 1}
    assert differences({**head, "schedule.k": 0.3}, head) == "k0.3"
    step = {**head, "schedule.name": "step", "schedule.epochs_drop": 3, "head.seed": 2}
    assert differences(step, {**head, "schedule.epochs_drop": 10}) == "step every3 head.seed=2"
    assert differences(head, head) == ""


def test_fine_tuning_counts_only_where_it_read_the_head_its_train_wrote():
    ran = {
        "metrics": {
            "metrics/evaluate/metrics.json": {"data": {"finetuned": {"test_accuracy": 0.97}}}
        },
        "outs": {"data/models/scheduled.keras": {"hash": "new"}},
        "deps": {"data/models/scheduled.keras": {"hash": "new"}},
    }
    assert fine_tuned(ran) == 0.97
    stopped_at_train = copy.deepcopy(ran)
    stopped_at_train["deps"]["data/models/scheduled.keras"]["hash"] = "older"
    assert fine_tuned(stopped_at_train) is None


def test_a_failed_task_beside_its_rerun_counts_as_the_rerun():
    project = Project()
    project.add("again", {"schedule.k": 0.3}, state="failed")
    project.add("again", {"schedule.k": 0.3})
    judged = judge(project.shown(), project.read)
    assert "again" in judged["tests"] and not judged["left_out"]


def test_the_table_fits_the_terminal_by_cutting_the_text_columns():
    project = sweep_project()
    judged = judge(project.shown(), project.read)
    (row,) = [row for row in judged["rows"] if row["experiment"] == "k-0.3"]
    row["experiment"] = "onecycle-lr0.01-pct0.3-div25-fdiv10000-with-a-long-suffix"
    row["differs from HEAD"] = "onecycle " + "x" * 80
    lines = report(judged).splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    (cut,) = [line for line in lines if line.startswith("onecycle-")]
    assert "…" in cut and cut.endswith(row["outcome"])
    assert render(judged["rows"]).splitlines()[0].split("  ")[0].strip() == "experiment"


@pytest.mark.slow
def test_a_sweep_queued_with_dvcs_own_syntax_gets_verdicts_against_heads_baseline(
    project, sample_dataset
):
    root = project({"data.source": str(sample_dataset()), **FAST})
    dvc("repro", "baseline", "train", cwd=root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "first run"], root)
    dvc("exp", "run", "--queue", "-S", "schedule.k=0.2,0.3", "train", cwd=root)
    dvc("exp", "run", "--queue", "-n", "other-seed", "-S", "head.seed=7", "train", cwd=root)
    dvc("queue", "start", "-j", "2", cwd=root)
    deadline = time.monotonic() + 600
    while "Queued" in (status := dvc("queue", "status", cwd=root).stdout) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(3)

    compare = [sys.executable, "-m", "lrstudy.study.compare"]
    judged = json.loads(run([*compare, "--json"], root).stdout)
    # `dvc exp run train` reran train alone with seed 7: the baseline is HEAD's, its heads not.
    assert list(judged["left_out"]) == ["other-seed"]
    assert judged["left_out"]["other-seed"].startswith("trained on other folds or seeds (seeds [7,")
    swept = {row["differs from HEAD"]: row["experiment"] for row in judged["rows"]}
    assert set(swept) == {"", "k0.2", "k0.3"}
    assert [row["experiment"] for row in judged["rows"]][0] == "HEAD"
    # Each verdict is the study's test on that experiment's own heads.
    shown = json.loads(dvc("exp", "show", "--json", cwd=root).stdout)
    revs = {exp["name"]: exp["revs"][0]["rev"] for exp in shown[1]["experiments"]}
    baseline = json.loads((root / "metrics" / "baseline" / "folds.json").read_text())
    for name in (swept["k0.2"], swept["k0.3"]):
        train = json.loads(
            run(["git", "show", f"{revs[name]}:metrics/train/folds.json"], root).stdout
        )
        test = judged["tests"][name]
        assert test["difference"] == pytest.approx(accuracy_difference(train, baseline), abs=1e-6)
        assert test["p_adjusted"] >= test["p"]
    assert judged["tests"][swept["k0.2"]] != judged["tests"][swept["k0.3"]]

    # The printed table of the sweep alone: HEAD and its two experiments, and the baseline.
    lines = run([*compare, "--sweep", "schedule.k"], root).stdout.splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    assert lines[0].split()[0] == "experiment" and lines[2].startswith("HEAD ")
    table = lines[2 : lines.index("")]
    assert sorted(line.split()[0] for line in table[1:]) == sorted(
        [swept["k0.2"], swept["k0.3"], "HEAD's"]
    )
    assert not any("other-seed" in line for line in lines)
