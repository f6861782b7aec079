"""The tuned grid: trials sampled reproducibly within each family's space with one budget for
all, winners selected on validation and judged on test (lrstudy/study/kinds/sampling.py,
tuned.py)."""

import math

import numpy as np
import pytest
from PIL import Image

from lrstudy.core.errors import UserError
from lrstudy.inference import outcome
from lrstudy.study.kinds.head_grids import families_of
from lrstudy.study.kinds.sampling import draw_trials, tuned_settings
from lrstudy.study.kinds.tuned import (
    common_target,
    cost_text,
    fine_tuned_trial,
    judge,
    optimizer_verdict,
    pooled,
    tuned_rows,
    tuning_cost,
    winners_per_fold,
)
from lrstudy.study.regime_comparison import publish_comparison
from lrstudy.study.results import write_results
from tests.helpers.grids import fold_runs, fold_shape, record, study_grid

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
    assert {len(names) for names in trials.values()} == {32} and grid.budget == 32
    names = [variant.name for variant in grid.variants]
    assert len(names) == len(set(names)) == 161 and names[-1] == grid.baseline == BASELINE
    for regime in ("5-epochs", "5-per-class"):  # every trial valid under every regime
        assert len(study_grid("tuned", regime=regime).variants) == 161
    two = trials_of(study_grid("tuned", trials=2))
    assert all(two[family] == trials[family][:2] for family in trials)


@pytest.mark.parametrize(
    "space, message",
    [
        ({"exp": {"k": [0.5, 0.1]}}, r"exp.k: \[0.5, 0.1\] is no range"),
        ({"exp": {"initial_lr": [0, 1, "log"]}}, "above 0 for log"),
        ({"exp": {"k": [0.1, 0.5, "cubic"]}}, r"should be \[low, high\] or \[low, high, log\]"),
        ({"exp": []}, "exp should map its params to ranges or numbers"),
        ({"exp": {"initial_lr": []}}, r"exp.initial_lr should be \[low, high\] .*, not \[\]"),
        ({"exp": {"initial_lr": [0.001]}}, r"should be \[low, high\] .*, not \[0.001\]"),
    ],
)
def test_a_malformed_search_space_is_one_line(space, message):
    with pytest.raises(UserError, match=message):
        draw_trials(space, 4, seed=0)


def test_a_family_that_is_no_name_is_one_line():
    with pytest.raises(UserError, match=r"^study.yaml: g.space: 1 is no schedule name$"):
        tuned_settings("g", {"trials": 2, "space": {1: {"initial_lr": [0.1, 1]}}})


SHAPE = fold_shape(seeds=10, validation=(200, 200), test=(500, 500))


def runs(validation, test, loss=0.2):
    """Fold runs of a trial: its final validation accuracy on each fold (`validation`), its test
    accuracy on each fold's images (`test`: the first images of the fold right), every seed
    alike."""
    right = np.zeros((10, 1000), bool)
    for fold, accuracy in enumerate(test):
        right[:, 500 * fold : 500 * fold + round(500 * accuracy)] = True
    curves = np.array([[[value / 2, value]] * 10 for value in validation])
    return fold_runs(SHAPE, right, curves, np.full((2, 10), loss))


TRIALS = {
    BASELINE: runs((0.90, 0.90), (0.90, 0.90)),
    "fixed-lr0.01": runs((0.93, 0.93), (0.93, 0.93)),
    "fixed-lr0.0001": runs((0.80, 0.80), (0.80, 0.80)),
    # Best on fold 1's validation, yet 5 points down on its test images: the test may not
    # change the choice. Fold 2 chooses the other trial.
    "exp-lr0.01-k0.1": runs((0.95, 0.90), (0.88, 0.88)),
    "exp-lr0.1-k0.5": runs((0.94, 0.96), (0.97, 0.97)),
}
FAMILIES = {
    "fixed": ["fixed-lr0.01", "fixed-lr0.0001"],
    "exp": ["exp-lr0.01-k0.1", "exp-lr0.1-k0.5"],
}


def test_winners_are_chosen_on_each_folds_validation_and_judged_on_its_test_images():
    winners = winners_per_fold(SHAPE, TRIALS, FAMILIES)
    assert winners == {
        "fixed": ["fixed-lr0.01", "fixed-lr0.01"],
        "exp": ["exp-lr0.01-k0.1", "exp-lr0.1-k0.5"],
    }
    judgement = judge(SHAPE, TRIALS, FAMILIES, BASELINE, 0.01)
    assert judgement["best"] == ["exp", "exp"] and judgement["order"] == ["exp", "fixed"]
    # exp's test outcomes: fold 1's from its fold-1 winner (88 %), fold 2's from the other's.
    assert judgement["outcomes"]["exp"].mean() == pytest.approx((0.88 + 0.97) / 2)
    assert "exp" not in judgement["against_best"]  # best on every fold: best itself
    # fixed: 93 % against best's 92.5 %, within a point either way; 3 points above the baseline.
    assert outcome(judgement["against_best"]["fixed"]) == "not resolved"
    assert outcome(judgement["against_baseline"]["fixed"]) == "better"
    validation = pooled(SHAPE, TRIALS)
    costs = {family: tuning_cost(validation, names, 0.9) for family, names in FAMILIES.items()}
    rows = tuned_rows(judgement, FAMILIES, costs, BASELINE)
    assert [row["family"] for row in rows] == ["exp", "fixed"]
    assert rows[0]["winner (most folds)"] == "exp-lr0.01-k0.1"
    assert rows[0]["folds choosing it"] == "1 of 2" and rows[1]["folds choosing it"] == "2 of 2"
    assert rows[0]["vs best"] == "" and rows[1]["vs best"] == "not resolved"
    assert fine_tuned_trial(validation, FAMILIES) == "exp-lr0.1-k0.5"  # 95 % over both folds


def test_identical_winners_are_equivalent_and_a_diverged_trial_is_never_chosen():
    # fixed's winner right on one image more than best on each fold: equivalent.
    same = {**TRIALS, "fixed-lr0.01": runs((0.93, 0.93), (0.882, 0.972))}
    judgement = judge(SHAPE, same, FAMILIES, BASELINE, 0.01)
    assert outcome(judgement["against_best"]["fixed"]) == "equivalent"
    gone = runs((0.99, 0.99), (0.99, 0.99))
    gone["final_val_loss"][3] = None
    diverged = {**TRIALS, "fixed-lr0.0001": gone}
    assert winners_per_fold(SHAPE, diverged, FAMILIES)["fixed"] == ["fixed-lr0.01"] * 2


def test_the_tuning_cost_is_the_trials_per_trial_that_reaches_one_target_for_all():
    validation = {
        f"t{index}": {"mean": mean}
        for index, mean in enumerate([0.95, 0.946, 0.90, 0.80, float("nan"), 0.944, 0.5, 0.6])
    }
    low = {"u0": {"mean": 0.93}, "u1": {"mean": 0.92}}  # a family with a lower ceiling
    target = common_target({**validation, **low}, 0.01)
    assert target == pytest.approx(0.945)  # the best trial of any family, less half a point
    # Within half a point of 0.95: 0.95, 0.946 (0.944 is 0.6 below): 8 / 2.
    assert tuning_cost(validation, list(validation), target) == 4.0
    # Against its own best (0.93) the low family would cost 1 trial; against the target, never.
    assert tuning_cost(low, list(low), target) == math.inf
    assert cost_text(math.inf, 2) == "none of 2" and cost_text(4.0, 8) == "4.0"


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


def test_each_optimizer_at_its_best_is_judged_against_the_baselines_at_its_best():
    trials = {
        **TRIALS,
        # Adam at its best: 92.5 % on test (its winners on each fold's validation).
        "sgd-m0.9-fixed-lr0.1": runs((0.92, 0.92), (0.84, 0.84)),
        "schedulefree_adamw-wd0.004-fixed-lr0.001": runs((0.91, 0.91), (0.97, 0.97)),
    }
    families = {
        "adam-fixed": FAMILIES["fixed"],
        "adam-exp": FAMILIES["exp"],
        "sgd-fixed": ["sgd-m0.9-fixed-lr0.1"],
        "schedulefree_adamw-fixed": ["schedulefree_adamw-wd0.004-fixed-lr0.001"],
    }
    optimizers = {family: family.rsplit("-", 1)[0] for family in families}
    judgement = judge(SHAPE, trials, families, BASELINE, 0.01)
    sentence = optimizer_verdict(SHAPE, trials, judgement, optimizers, "adam", 0.01)
    assert sentence.startswith(
        "Each optimizer at its best on each fold's validation against Adam at its best"
    )
    assert "sgd worse (-8.50 [" in sentence and "schedulefree_adamw better (+4.50 [" in sentence
    only_adam = {family: "adam" for family in families}
    assert optimizer_verdict(SHAPE, trials, judgement, only_adam, "adam", 0.01) is None
    # Against the baseline's optimizer: under SGD, SGD at its best is the reference.
    under_sgd = optimizer_verdict(SHAPE, trials, judgement, optimizers, "sgd", 0.01)
    assert under_sgd.startswith("Each optimizer at its best on each fold's validation against SGD")


def tuned_results(name, runs_by_name, budget, regime=None):
    """A tuned study's runs file: `runs_by_name` {trial: fold runs}, the baseline among them."""
    records = {
        trial: {
            **record(
                trial.split("-")[0],
                initial_lr=float(trial.split("+")[0].split("-lr")[1].split("-")[0]),
            ),
            "family": None if trial.startswith(BASELINE) else trial.split("-")[0],
        }
        for trial in runs_by_name
    }
    baseline = next(trial for trial in runs_by_name if trial.startswith(BASELINE))
    fine_tuned = next(trial for trial in runs_by_name if trial != baseline)
    return {
        "kind": "tuned",
        "grid": name,
        **({"regime": regime} if regime else {}),
        "baseline": baseline,
        "split_seed": 42,
        "variants": records,
        "folds": SHAPE,
        "runs": runs_by_name,
        "fine_tuning": {
            "variant": fine_tuned,
            "experiment": f"{fine_tuned}-finetuned",
            "test": {
                "test_images": 9,
                "only_before_correct": 0,
                "only_after_correct": 0,
                "p_value": 1.0,
            },
            "validation": {"accuracy": [[0, 1], [0.9, 0.9]], "loss": [[0, 1], [0.3, 0.3]]},
        },
        "budget": budget,
    }


def test_a_tuned_grid_across_regimes_judges_every_study_on_the_same_number_of_trials(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    write_results(tuned_results("t", TRIALS, 2))
    short = {
        f"{BASELINE}+short": runs((0.80, 0.80), (0.80, 0.80)),
        "fixed-lr0.01+short": runs((0.85, 0.85), (0.85, 0.85)),
        "exp-lr0.01-k0.1+short": runs((0.90, 0.90), (0.90, 0.90)),
    }
    regime = {"name": "short", "settings": {"head.epochs": 5}}
    write_results(tuned_results("t+short", short, 1, regime))
    page = tmp_path / "page.md"
    page.write_text("# t\n<!-- study-t-regimes:start -->\nold\n<!-- study-t-regimes:end -->\n")
    params = {"head.epochs": 50, "head.seed": 42}
    table = publish_comparison("t", ["short"], params, 0.01, [page])
    assert (
        page.read_text()
        == f"# t\n<!-- study-t-regimes:start -->\n{table}<!-- study-t-regimes:end -->\n"
    )
    rows = table.splitlines()
    # One trial each, the short study's budget: exp's first trial (88 % on test) in the full
    # study, not the second one it would choose with both (97 %).
    assert rows[0] == "| regime | fixed | exp |"
    assert rows[2].startswith("| head.epochs 5 | 85.00 % [") and "| 90.00 % [" in rows[2]
    assert rows[3].startswith("| head.epochs 50 | 93.00 % [") and "| 88.00 % [" in rows[3]
    assert "among its first 1 trials" in table
    assert (tmp_path / "metrics" / "study-t-regimes.md").read_text() == table
    with Image.open(tmp_path / "plots" / "study-t-regimes" / "regimes.png") as image:
        assert image.format == "PNG"
    with pytest.raises(UserError, match=r"study-t\+long-runs.json: no such file"):
        publish_comparison("t", ["long"], {}, 0.01)
