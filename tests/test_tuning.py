"""The tuned grid: trials sampled reproducibly within each family's space with one budget for
all, winners selected on validation and judged on test (lrstudy/study/kinds/sampling.py,
tuned.py)."""

import math

import pytest

from lrstudy.core.config import VerdictsConfig
from lrstudy.core.errors import UserError
from lrstudy.statistics import outcome
from lrstudy.study.analysis import analyse
from lrstudy.study.kinds.plain import families_of
from lrstudy.study.kinds.sampling import draw_trials
from lrstudy.study.kinds.tuned import (
    judge,
    optimizer_verdict,
    select_winners,
    tuned_rows,
    tuning_cost,
)
from tests.helpers.grids import study_grid

BASELINE = "fixed-lr0.001"  # params.yaml's baseline.lr, trained by Adam


def trials_of(grid):
    """{family: its trials' names} of a tuned grid, from its variants' records."""
    return families_of({variant.name: variant.record() for variant in grid.variants})


SPACE = {
    "fixed": {"initial_lr": [1.0e-4, 1.0e-1, "log"]},
    "step": {"initial_lr": [1.0e-4, 1.0e-1, "log"], "drop": [0.2, 0.8], "epochs_drop": [3, 20]},
    "cosine": {"initial_lr": [1.0e-4, 1.0e-1, "log"], "warmup_epochs": [0, 10], "min_lr": 0.0},
}


def test_trials_are_reproducible_within_the_space_and_the_same_budget_for_every_family():
    drawn = draw_trials(SPACE, 8, seed=0)
    assert drawn == draw_trials(SPACE, 8, seed=0)
    assert {family: len(trials) for family, trials in drawn.items()} == dict.fromkeys(SPACE, 8)
    for trials in drawn.values():
        for values in trials:
            assert 1e-4 <= values["initial_lr"] <= 1e-1
            assert float(f"{values['initial_lr']:.3g}") == values["initial_lr"]  # rounded once
    for values in drawn["step"]:
        assert 0.2 <= values["drop"] <= 0.8 and isinstance(values["epochs_drop"], int)
        assert 3 <= values["epochs_drop"] <= 20
    assert {values["min_lr"] for values in drawn["cosine"]} == {0.0}  # a number is fixed
    # Log-uniform: the rates spread over the three decades, not bunched at the top one.
    rates = sorted(values["initial_lr"] for trials in drawn.values() for values in trials)
    decades = {math.floor(math.log10(rate)) for rate in rates}
    assert decades == {-4, -3, -2}
    assert draw_trials(SPACE, 8, seed=1) != drawn


def test_trial_i_is_the_same_for_any_budget_of_at_least_i_and_families_are_independent():
    eight, three = draw_trials(SPACE, 8, seed=0), draw_trials(SPACE, 3, seed=0)
    assert all(eight[family][:3] == three[family] for family in SPACE)
    alone = draw_trials({"step": SPACE["step"]}, 8, seed=0)
    assert alone["step"] == eight["step"]  # adding a family changes no other family's trials


def test_the_committed_tuned_grid_holds_every_family_s_trials_and_the_baseline():
    grid = study_grid("tuned")
    trials = trials_of(grid)
    assert set(trials) == {"fixed", "exp", "step", "cosine", "onecycle"}
    assert {len(names) for names in trials.values()} == {8} and grid.budget == 8
    names = [variant.name for variant in grid.variants]
    assert len(names) == len(set(names)) == 41 and names[-1] == grid.baseline == BASELINE
    two = trials_of(study_grid("tuned", trials=2))
    assert all(two[family] == trials[family][:2] for family in trials)


@pytest.mark.parametrize(
    "space, message",
    [
        ({"exp": {"k": [0.5, 0.1]}}, r"exp.k: \[0.5, 0.1\] is no range"),
        ({"exp": {"initial_lr": [0, 1, "log"]}}, "above 0 for log"),
        ({"exp": {"k": [0.1, 0.5, "cubic"]}}, r"should be \[low, high\] or \[low, high, log\]"),
        ({"exp": []}, "exp should map its params to ranges or numbers"),
    ],
)
def test_a_malformed_search_space_is_one_line(space, message):
    with pytest.raises(UserError, match=message):
        draw_trials(space, 4, seed=0)


SETTINGS = VerdictsConfig(margin=1.0, convergence=0.98)


def history(finals, test):
    """Ten seeds' validation curves ending at `finals`, loss 1 - accuracy, and their test
    accuracies."""
    return {
        "val_accuracy": [[final / 2, final] for final in finals],
        "val_loss": [[1.0, 1 - final] for final in finals],
        "test_accuracy": test,
    }


OFFSETS = (0.004, -0.003, 0.002, -0.001, 0.0) * 2  # seed-to-seed noise


def runs(validation, test):
    return history([validation + o for o in OFFSETS], [test + o for o in OFFSETS])


def test_winners_are_chosen_on_validation_and_judged_on_test():
    histories = {
        BASELINE: runs(0.90, 0.90),
        "fixed-lr0.01": runs(0.93, 0.93),
        "fixed-lr0.0001": runs(0.80, 0.80),
        # Best on validation, yet 5 points down on test: the test may not change the choice.
        "exp-lr0.01-k0.1": runs(0.95, 0.88),
        "exp-lr0.1-k0.5": runs(0.94, 0.97),
        "step-lr0.01-drop0.5-every5": runs(0.93, 0.93),
    }
    trials = {
        "fixed": ["fixed-lr0.01", "fixed-lr0.0001"],
        "exp": ["exp-lr0.01-k0.1", "exp-lr0.1-k0.5"],
        "step": ["step-lr0.01-drop0.5-every5"],
    }
    summaries, _ = analyse(histories, SETTINGS, BASELINE)
    winners, reference = select_winners(summaries, trials)
    assert winners == {
        "fixed": "fixed-lr0.01",
        "exp": "exp-lr0.01-k0.1",
        "step": "step-lr0.01-drop0.5-every5",
    }
    assert reference == "exp-lr0.01-k0.1"
    test_accuracy = {name: found["test_accuracy"] for name, found in histories.items()}
    tested, against_reference, against_baseline = judge(
        winners, reference, BASELINE, test_accuracy, 0.01
    )
    assert tested["exp-lr0.01-k0.1"]["mean"] == pytest.approx(0.8804)  # 0.88 + the offsets' mean
    # On test, the other winners are 5 points above the reference: better, every seed.
    assert {name: outcome(test) for name, test in against_reference.items()} == {
        "fixed-lr0.01": "better",
        "step-lr0.01-drop0.5-every5": "better",
        BASELINE: "better",
    }
    assert outcome(against_baseline["fixed-lr0.01"]) == "better"
    assert outcome(against_baseline["exp-lr0.01-k0.1"]) == "worse"
    judgement = (tested, against_reference, against_baseline)
    rows = tuned_rows(summaries, trials, winners, reference, judgement, 0.01, BASELINE)
    assert [row["family"] for row in rows] == ["exp", "fixed", "step"]
    assert rows[0]["vs best"] == "" and rows[1]["vs best"] == "better"
    assert rows[0]["tuning cost (trials)"] == "2.0"  # one of its two trials near its best


def test_identical_winners_on_test_are_equivalent_and_a_diverged_one_is_tested_against_nothing():
    same = [0.9 + o for o in OFFSETS]
    tested, against_reference, _ = judge(
        {"fixed": "fixed-lr0.01", "exp": "exp-lr0.01-k0", "step": "step-lr9-drop0.5-every5"},
        "exp-lr0.01-k0",
        BASELINE,
        {
            "fixed-lr0.01": same,
            "exp-lr0.01-k0": same,
            "step-lr9-drop0.5-every5": [None] * 10,
            BASELINE: same,
        },
        0.01,
    )
    assert outcome(against_reference["fixed-lr0.01"]) == "equivalent"
    assert "step-lr9-drop0.5-every5" not in against_reference
    assert math.isnan(tested["step-lr9-drop0.5-every5"]["mean"])


def test_the_tuning_cost_is_the_trials_per_trial_near_the_best():
    summaries = {
        f"t{index}": {"final_val_accuracy": {"mean": mean}}
        for index, mean in enumerate([0.95, 0.946, 0.90, 0.80, float("nan"), 0.944, 0.5, 0.6])
    }
    # Within half a point of 0.95: 0.95, 0.946 (0.944 is 0.6 below): 8 / 2.
    assert tuning_cost(summaries, list(summaries), 0.01) == 4.0


def test_the_optimizers_grid_pairs_each_optimizer_with_its_schedules():
    grid = study_grid("optimizers")
    trials = trials_of(grid)
    assert list(trials) == [
        "adam-fixed",
        "adam-exp",
        "sgd-fixed",
        "sgd-cosine",
        "adamw-fixed",
        "adamw-cosine",
        "schedulefree_adamw-fixed",
    ]
    by_name = {variant.name: variant for variant in grid.variants}
    assert all(by_name[name].train.optimizer == "sgd" for name in trials["sgd-cosine"])
    assert all(name.startswith("sgd-m0.9-cosine-lr") for name in trials["sgd-cosine"])
    assert all(name.startswith("exp-lr") for name in trials["adam-exp"])  # Adam goes unnamed
    free = trials["schedulefree_adamw-fixed"][0]
    assert free.startswith("schedulefree_adamw-wd0.004-fixed-lr")
    assert ["-S", "train.optimizer=schedulefree_adamw"] == by_name[free].arguments()[4:6]
    assert grid.variants[-1].name == BASELINE and by_name[BASELINE].train.optimizer == "adam"


def test_a_space_that_mixes_optimizers_and_schedules_is_refused(tmp_path):
    grids = tmp_path / "study.yaml"
    grids.write_text(
        "g:\n  trials: 2\n  space:\n    sgd: {fixed: {initial_lr: [0.001, 0.1, log]}}\n"
        "    exp: {initial_lr: [0.001, 0.1, log], k: 0.1}\n"
    )
    with pytest.raises(UserError, match=r"g.space mixes optimizers \(sgd\) with schedules"):
        study_grid("g", grids)


def test_each_optimizer_at_its_best_is_judged_against_adam_at_its_best():
    histories = {
        "fixed-lr0.001": runs(0.90, 0.90),
        "exp-lr0.01-k0.2": runs(0.93, 0.93),  # Adam's best on validation
        "sgd-m0.9-fixed-lr0.1": runs(0.92, 0.93),  # the same on test: equivalent
        "sgd-m0.9-cosine-lr0.1-warmup0-min0": runs(0.925, 0.88),  # SGD's best, 5 points down
        "schedulefree_adamw-wd0.004-fixed-lr0.001": runs(0.91, 0.93),
    }
    trials = {
        "adam-fixed": ["fixed-lr0.001"],
        "adam-exp": ["exp-lr0.01-k0.2"],
        "sgd-fixed": ["sgd-m0.9-fixed-lr0.1"],
        "sgd-cosine": ["sgd-m0.9-cosine-lr0.1-warmup0-min0"],
        "schedulefree_adamw-fixed": ["schedulefree_adamw-wd0.004-fixed-lr0.001"],
    }
    optimizers = {family: family.rsplit("-", 1)[0] for family in trials}
    summaries, _ = analyse(histories, SETTINGS, BASELINE)
    winners, _ = select_winners(summaries, trials)
    test_accuracy = {name: found["test_accuracy"] for name, found in histories.items()}
    sentence = optimizer_verdict(summaries, winners, optimizers, test_accuracy, 0.01, "adam")
    assert sentence.startswith(
        "Each optimizer at its best on validation against Adam at its best (exp-lr0.01-k0.2)"
    )
    assert "sgd (sgd-m0.9-cosine-lr0.1-warmup0-min0) worse (-5.00 points" in sentence
    assert "schedulefree_adamw (schedulefree_adamw-wd0.004-fixed-lr0.001) equivalent" in sentence
    only_adam = {family: "adam" for family in trials}
    assert optimizer_verdict(summaries, winners, only_adam, test_accuracy, 0.01, "adam") is None
    # Against the baseline's optimizer: under SGD, SGD at its best is the reference.
    under_sgd = optimizer_verdict(summaries, winners, optimizers, test_accuracy, 0.01, "sgd")
    assert under_sgd.startswith("Each optimizer at its best on validation against SGD at its best")
