"""Regimes (lrstudy/study/regimes.py): a grid run under a setting of the data and budget is a
study of its own, whose variants, files and page blocks carry the regime's name."""

import json
import sys

import numpy as np
import pytest

from lrstudy.core.errors import UserError
from lrstudy.study.grids import grid_entry, read_grids
from lrstudy.study.kinds import read_kind_results
from lrstudy.study.kinds.plain import PlainGrid
from lrstudy.study.regimes import read_regime, study_command, study_name
from lrstudy.study.results import write_results
from tests.helpers.commands import run
from tests.helpers.grids import fold_runs, fold_shape, record, study_grid
from tests.helpers.sandbox import REPO_ROOT, committed_params

GRIDS = """\
g:
  fixed:
    - {initial_lr: 0.1}
  exp:
    - {initial_lr: 0.01, k: 0.3}
regimes:
  15-per-class: {split.training_per_class: 15}
  short: {head.epochs: 10, split.training_per_class: 30}
"""


def regime_grid(tmp_path, name):
    path = tmp_path / "study.yaml"
    path.write_text(GRIDS)
    return study_grid("g", path, regime=name)


def test_a_regime_names_every_variant_and_sets_its_params_before_the_schedules(tmp_path):
    grid = regime_grid(tmp_path, "short")
    names = [variant.name for variant in grid.variants]
    assert names == ["fixed-lr0.1+short", "exp-lr0.01-k0.3+short", "fixed-lr0.001+short"]
    assert grid.baseline == "fixed-lr0.001+short"
    regime = ("-S", "head.epochs=10", "-S", "split.training_per_class=30")
    assert all(run.arguments[:4] == regime for run in grid.runs)
    assert grid.runs[1].arguments[4:8] == (
        "-S",
        "schedule.name=exp",
        "-S",
        "schedule.initial_lr=0.01",
    )
    assert grid.request.config.head.epochs == 10
    assert grid.request.config.split.training_per_class == 30
    assert grid.request.name == "g+short"
    assert grid.request.identity() == {
        "grid": "g+short",
        "regime": {
            "name": "short",
            "settings": {"head.epochs": 10, "split.training_per_class": 30},
        },
    }
    assert study_command("g+short") == ["--grid", "g", "--regime", "short"]
    assert study_command("g") == ["--grid", "g"] and study_name("g", None) == "g"


def test_every_committed_regime_applies_to_params_yaml():
    grids, params = read_grids(REPO_ROOT / "study.yaml"), committed_params()
    assert grids["regimes"], "study.yaml names its regimes"
    for name in grids["regimes"]:
        regime = read_regime(grids, name, params, "study.yaml")
        config = regime.applied(params)
        for dotted, value in regime.settings.items():
            group, key = dotted.split(".")
            assert getattr(getattr(config, group), key) == value


@pytest.mark.parametrize(
    "regimes, line",
    [
        ("", "study.yaml has no regime 'r' under regimes; it has none"),
        ("regimes: [a]\n", "study.yaml: regimes should map regime names to {group.key: value}"),
        (
            "regimes:\n  r: {schedule.k: 0.3}\n",
            "study.yaml: regime r sets schedule.k, which is not a params.yaml key of split.*, "
            "head.* (a regime sets the data and the budget)",
        ),
        (
            "regimes:\n  r: {split.per_class: 3}\n",
            "study.yaml: regime r sets split.per_class, which is not a params.yaml key of "
            "split.*, head.* (a regime sets the data and the budget)",
        ),
        (
            "regimes:\n  r: {split.training_per_class: 0}\n",
            "study.yaml: regime r: params.yaml: split.training_per_class = 0 is not allowed; "
            "expected an integer >= 1, or all",
        ),
        ("regimes:\n  r: {}\n", "study.yaml: regime r should map params.yaml keys to values"),
    ],
)
def test_a_regime_that_cannot_run_is_one_line_before_anything_runs(tmp_path, regimes, line):
    (tmp_path / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    (tmp_path / "study.yaml").write_text("g:\n  fixed:\n    - {initial_lr: 0.1}\n" + regimes)
    command = [sys.executable, "-m", "lrstudy.study", "--grid", "g", "--regime", "r"]
    result = run(command, tmp_path, check=False, PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {line}"]


def test_regimes_is_no_grid_and_a_regime_name_joins_no_other(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(GRIDS + "  a+b: {head.epochs: 5}\n")
    with pytest.raises(UserError, match="study.yaml has no grid 'regimes'; it has g$"):
        grid_entry("regimes", path)
    with pytest.raises(UserError, match="regime name 'a\\+b' should be letters, digits"):
        read_regime(read_grids(path), "a+b", committed_params(), path)


def test_a_study_under_a_regime_publishes_its_own_table_that_names_the_regime(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    grid = regime_grid(tmp_path, "15-per-class")
    shape = fold_shape(seeds=10, validation=(50, 50), test=(100, 100))
    rng = np.random.default_rng(0)
    baseline, exp = grid.baseline, "exp-lr0.01-k0.3+15-per-class"
    runs = {
        name: fold_runs(
            shape,
            rng.random((10, 200)) < rate,
            0.5 + 0.4 * rng.random((2, 10, 2)),
            0.3 + 0.1 * rng.random((2, 10)),
        )
        for name, rate in ((baseline, 0.85), (exp, 0.9))
    }
    written = {
        "kind": "plain",
        **grid.request.identity(),
        "baseline": baseline,
        "split_seed": 42,
        "variants": {
            baseline: record("fixed", family=None, initial_lr=0.001),
            exp: record("exp", initial_lr=0.01, k=0.3),
        },
        "folds": shape,
        "runs": runs,
        "fine_tuning": {
            "variant": exp,
            "experiment": f"{exp}-finetuned",
            "test": {
                "test_images": 9,
                "only_before_correct": 0,
                "only_after_correct": 0,
                "p_value": 1.0,
            },
            "validation": {"accuracy": [[2, 3], [0.9, 0.9]], "loss": [[2, 3], [0.3, 0.3]]},
        },
    }
    write_results(written)
    assert (tmp_path / "metrics" / "study-g+15-per-class-runs.json").is_file()
    kind, results = read_kind_results("g+15-per-class")
    assert kind is PlainGrid and results == written
    table = PlainGrid.publish(results, grid.request.config.verdicts)
    assert (tmp_path / "metrics" / "study-g+15-per-class.md").read_text() == table
    assert (
        "\n\nRegime 15-per-class: split.training_per_class = 15 for every variant and the baseline "
        "(study.yaml's regimes); the rest as params.yaml.\n\n" in table
    )
    assert (tmp_path / "plots" / "study-g+15-per-class" / "test_accuracy.png").is_file()
    with pytest.raises(UserError, match=r"\(python -m lrstudy.study --grid g --regime short\)"):
        read_kind_results("g+short")
    # The runs file is input: a regime record it cannot hold is refused.
    written["regime"] = {"name": "15-per-class", "settings": {}}
    (tmp_path / "metrics" / "study-g+15-per-class-runs.json").write_text(json.dumps(written))
    with pytest.raises(UserError, match=r"\['regime'\]\['settings'\]: "):
        read_kind_results("g+15-per-class")
