"""`make compare` on rows shaped as `dvc exp show --json` gives them (the real command runs in
tests/test_pipeline.py)."""

import csv

from tests.helpers.sandbox import REPO_ROOT
from tools.compare import WIDTH, differences, evaluated, render, study_p_values, table_rows

HEAD_PARAMS = {
    "schedule": {"name": "exp", "initial_lr": 0.01, "k": 0.1, "drop": 0.5, "epochs_drop": 10},
    "head": {"repeats": 10},
}


def revision(schedule, train_mean, trained="new", evaluated_model="new"):
    """An experiment's data: its params, metrics, and the hashes of the scheduled head its
    `train` wrote (outs) and its `finetune` read (deps)."""
    params = {**HEAD_PARAMS, "schedule": {**HEAD_PARAMS["schedule"], **schedule}}
    accuracy = {"mean": train_mean, "std": 0.005}
    return {
        "params": {"params.yaml": {"data": params}},
        "metrics": {
            "metrics/train/metrics.json": {"data": {"final_val_accuracy": accuracy}},
            "metrics/baseline/metrics.json": {"data": {"final_val_accuracy": accuracy}},
            "metrics/evaluate/metrics.json": {"data": {"finetuned": {"test_accuracy": 0.97}}},
        },
        "outs": {"data/models/scheduled.keras": {"hash": trained}},
        "deps": {"data/models/scheduled.keras": {"hash": evaluated_model}},
    }


def shown(*experiments):
    head = revision({}, 0.95)
    return [
        {"rev": "workspace", "data": head},
        {
            "rev": "abc1234",
            "data": head,
            "experiments": [
                {"name": name, "revs": [{"rev": name, "data": data}]} for name, data in experiments
            ],
        },
    ]


def test_differences_name_the_schedule_by_its_short_params():
    head = {"schedule.name": "exp", "schedule.initial_lr": 0.01, "schedule.k": 0.1, "head.seed": 1}
    assert differences({**head, "schedule.k": 0.3}, head) == "k0.3"
    step = {**head, "schedule.name": "step", "schedule.epochs_drop": 3, "head.seed": 2}
    assert differences(step, {**head, "schedule.epochs_drop": 10}) == "step every3 head.seed=2"
    assert differences(head, head) == ""


def test_rows_best_first_with_fine_tuning_only_where_it_ran():
    rows = table_rows(
        shown(
            ("only-train", revision({"k": 0.3}, 0.96, trained="other")),
            ("fine-tuned", revision({"initial_lr": 0.001}, 0.955)),
        )
    )
    assert [row[0] for row in rows] == ["HEAD", "only-train", "fine-tuned"]
    assert rows[1][1:3] == ("k0.3", "96.00±0.50") and rows[1][4] == ""
    assert rows[2][1] == "lr0.001" and rows[2][4] == "97.00"
    assert not evaluated(revision({}, 0.9, trained="other"))


def test_the_table_fits_the_terminal_by_cutting_the_text_columns():
    long_name = "onecycle-lr0.01-pct0.3-div25-fdiv10000-finetuned-with-a-long-suffix"
    row = (long_name, "onecycle " + "x" * 80, "95.64±0.29", "95.64±0.29", "96.71", "0.00553")
    lines = render([row]).splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    assert "…" in lines[2] and lines[2].rstrip().endswith("0.00553")


def test_p_values_come_from_the_committed_per_variant_tables_of_heads(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    values = study_p_values()
    with open("metrics/study-reference.csv", newline="", encoding="utf-8") as file:
        reference = {row["variant"]: row["p (BH)"] for row in csv.DictReader(file)}
    assert reference and {name: values[name] for name in reference} == reference
    assert not [name for name in values if name.startswith("finetune-")]  # McNemar's, not these
