import dataclasses

import numpy as np
import pytest

from lrstudy.core.config import ParamError, TrainConfig, VerdictsConfig, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import variant_name
from lrstudy.heads.lr_range import smooth, suggest_lr
from lrstudy.inference import adjust, judged, outcome
from lrstudy.pages import update_blocks
from lrstudy.study.analysis import (
    ACCURACY,
    analyse,
    best_sentence,
    epochs_to,
    fine_tuning_choice,
    rank,
    study_rows,
    table_notes,
)
from lrstudy.study.calibration import outcomes_of
from lrstudy.study.claims import CLAIMS, answer, claim_rows
from lrstudy.study.cli import check_pages
from lrstudy.study.folds import gathered
from lrstudy.study.kinds import KINDS, kind_named, read_kind_results
from lrstudy.study.kinds.finetune_schedules import (
    FinetuneGrid,
    finetuning_rows,
    finetuning_verdict,
    judge_finetuning,
)
from lrstudy.study.kinds.plain import PlainGrid
from lrstudy.study.results import runs_file, write_results
from lrstudy.study.variants import Variant
from tests.helpers.grids import fold_runs, fold_shape, record, study_grid
from tests.helpers.sandbox import committed_config

ADAM = TrainConfig(optimizer="adam", momentum=0.9, weight_decay=0.004)
BASELINE = "fixed-lr0.001"  # params.yaml's baseline.lr, trained by Adam


def names_of(grid):
    return [variant.name for variant in grid.variants]


def test_the_reference_grids_have_the_reference_reports_variants_and_the_baseline():
    reference = study_grid("reference")
    names = names_of(reference)
    assert len(names) == len(set(names)) == 18  # fixed 0.001 is one of them
    assert names[:4] == ["fixed-lr0.1", "fixed-lr0.01", BASELINE, "fixed-lr0.0001"]
    assert "exp-lr0.01-k0.3" in names and "step-lr0.1-drop0.5-every10" in names
    assert reference.baseline == BASELINE
    # A grid without the baseline runs it too, last and in no family of the grid.
    small_rates = study_grid("reference-small-rates")
    assert names_of(small_rates) == [
        "fixed-lr1e-08",
        "fixed-lr1e-09",
        "fixed-lr1e-10",
        "exp-lr1e-08-k0.3",
        "exp-lr1e-08-k0.5",
        "exp-lr1e-08-k0.7",
        "exp-lr1e-08-k0.9",
        BASELINE,
    ]
    assert small_rates.variants[-1].record() == {
        "family": None,
        "optimizer": "adam",
        "schedule": {"name": "fixed", "initial_lr": 0.001},
    }


def test_every_grid_is_of_one_kind_and_a_runs_file_names_its_own():
    kinds = {
        grid: type(study_grid(grid)).name
        for grid in ("reference", "modern", "tuned", "optimizers", "finetuning")
    }
    assert kinds == {
        "reference": "plain",
        "modern": "plain",
        "tuned": "tuned",
        "optimizers": "tuned",
        "finetuning": "finetuning",
    }
    assert set(KINDS) == set(kinds.values())
    assert kind_named("tuned", "metrics/study-g-runs.json") is KINDS["tuned"]
    with pytest.raises(UserError) as error:
        kind_named(None, "metrics/study-g-runs.json")
    assert str(error.value) == (
        "metrics/study-g-runs.json records the kind of grid None; expected one of finetuning, "
        "tuned, plain: run the study again"
    )


def test_under_another_optimizer_every_variant_and_the_baseline_are_named_by_it():
    sgd = committed_config({"train.optimizer": "sgd"})
    grid = study_grid("modern", config=sgd)
    assert grid.baseline == "sgd-m0.9-fixed-lr0.001" and grid.baseline in names_of(grid)
    assert all(name.startswith("sgd-m0.9-") for name in names_of(grid))
    assert {variant.record()["optimizer"] for variant in grid.variants} == {"sgd"}
    assert grid.runs[0].arguments[-4:] == ("-S", "train.optimizer=sgd", "-S", "train.momentum=0.9")
    assert grid.runs[0].targets == ("train",)


def test_variant_names_and_dvc_arguments():
    assert (
        variant_name("step", {"initial_lr": 0.01, "drop": 0.5, "epochs_drop": 3.0})
        == "step-lr0.01-drop0.5-every3"
    )
    exp = parse_schedule({"name": "exp", "initial_lr": 0.01, "k": 0.3, "drop": 0.5}, 50)
    variant = Variant(exp, ADAM)
    assert variant.name == "exp-lr0.01-k0.3"  # Adam, the reports' optimizer, goes unnamed
    assert variant.arguments() == [
        *("-S", "schedule.name=exp", "-S", "schedule.initial_lr=0.01", "-S", "schedule.k=0.3"),
        *("-S", "train.optimizer=adam"),
    ]
    sgd = Variant(exp, dataclasses.replace(ADAM, optimizer="sgd"))
    assert sgd.name == "sgd-m0.9-exp-lr0.01-k0.3"
    assert sgd.arguments()[-4:] == ["-S", "train.optimizer=sgd", "-S", "train.momentum=0.9"]


def test_grids_are_checked_like_params(tmp_path):
    grids = tmp_path / "study.yaml"
    grids.write_text("bad:\n  exp:\n    - {initial_lr: 0.01, k: -1}\n")
    with pytest.raises(ParamError, match=r"study.yaml: bad.exp.k = -1 is not allowed"):
        study_grid("bad", grids)
    with pytest.raises(UserError, match="no grid 'missing'; it has bad"):
        study_grid("missing", grids)


SETTINGS = VerdictsConfig(margin=1.0)
SHAPE = fold_shape(seeds=10, validation=(100, 100), test=(500, 500))
EPOCHS = 8


def variant_runs(flips, climb=5, final=0.95, loss=0.2, seed_noise=0.0):
    """Fold runs of a variant whose test outcomes are the baseline's (every seed right on the
    first 950 of 1000 images) with `flips` {image: True or False} changed for every seed, whose
    validation accuracy climbs to `final` in `climb` epochs, with final loss `loss`."""
    rng = np.random.default_rng(climb)
    right = np.zeros((10, 1000), bool)
    right[:, :950] = True
    for image, value in flips.items():
        right[:, image] = value
    curve = [final * min(1.0, (epoch + 1) / climb) for epoch in range(EPOCHS)]
    val = np.broadcast_to(curve, (2, 10, EPOCHS)) + rng.normal(0, seed_noise, (2, 10, 1))
    losses = np.full((2, 10), loss) + rng.normal(0, 0.001, (2, 10))
    return fold_runs(SHAPE, right, val, losses)


RUNS = {
    BASELINE: variant_runs({}),
    # 40 images more right than the baseline, with every seed: 4 points better, 3 epochs sooner.
    "exp-lr0.01-k0.3": variant_runs(dict.fromkeys(range(950, 990), True), climb=2, loss=0.15),
    # Two right and two wrong: no difference, shown within the margin.
    "fixed-lr0.1": variant_runs({950: True, 951: True, 0: False, 1: False}),
    # Thirty right, twenty wrong: +1 point, its interval across the margin.
    "step-lr0.01-drop0.5-every3": variant_runs(
        {**dict.fromkeys(range(950, 980), True), **dict.fromkeys(range(20), False)}, loss=0.25
    ),
}
RECORDS = {  # what the variants of RUNS are, as the runs file records them
    BASELINE: record("fixed", initial_lr=0.001),
    "exp-lr0.01-k0.3": record("exp", initial_lr=0.01, k=0.3),
    "fixed-lr0.1": record("fixed", initial_lr=0.1),
    "step-lr0.01-drop0.5-every3": record("step", initial_lr=0.01, drop=0.5, epochs_drop=3.0),
}


def test_variants_are_compared_over_images_and_seeds_each_outcome_in_its_order():
    summaries, tests, design = analyse(SHAPE, RUNS, SETTINGS, BASELINE)
    assert rank(summaries)[0] == "exp-lr0.01-k0.3" and summaries[BASELINE][ACCURACY]["mean"] == 0.95
    outcomes = {name: outcome(test) for name, test in tests[ACCURACY].items()}
    assert outcomes == {
        "exp-lr0.01-k0.3": "better",
        "fixed-lr0.1": "equivalent",
        "step-lr0.01-drop0.5-every3": "not resolved",
    }
    exp = tests[ACCURACY]["exp-lr0.01-k0.3"]
    assert exp["difference"] == pytest.approx(0.04)
    low, high = exp["interval"]
    assert 0.01 < low < 0.04 < high < 0.07
    # The target fixed from the baseline alone: its final validation accuracy minus 1 point.
    assert design["target"] == pytest.approx(0.94)
    epochs = tests["epochs_to_target"]["exp-lr0.01-k0.3"]
    assert epochs["difference"] == pytest.approx(-3) and epochs["p_adjusted"] < 0.05
    assert summaries["exp-lr0.01-k0.3"]["epochs_to_target"]["reached"] == 20
    rows = study_rows(summaries, tests, design, SHAPE, BASELINE)
    assert [row["variant"] for row in rows][0] == "exp-lr0.01-k0.3"
    assert rows[0]["vs fixed-lr0.001 (points, 90 % interval)"].startswith("+4.00 [")
    assert rows[0]["epochs to 94.00 %"].startswith("2.0 ± 0.0 (-3.0, p ")
    baseline = next(row for row in rows if row["variant"] == BASELINE)
    assert baseline["p (BH)"] == baseline["outcome"] == ""
    notes = table_notes(design, SHAPE, 0.01, BASELINE)
    assert "each image of the data tested once (1000 images)" in notes
    assert "Before looking at any variant, from the baseline alone" in notes
    sentence = best_sentence("exp-lr0.01-k0.3", BASELINE, summaries, tests)
    assert "+4.00 points (90 % interval" in sentence and "): better." in sentence
    assert "Epochs to the target: -3.0 epochs" in sentence and ": sooner." in sentence


def test_a_run_that_never_reaches_the_target_is_censored_at_the_last_epoch():
    accuracy = np.array([[[0.5, 0.9, 0.95], [0.5, 0.6, 0.7]]])
    epochs, reached = epochs_to(accuracy, 0.9)
    assert epochs.tolist() == [[2.0, 3.0]] and reached.tolist() == [[True, False]]


def test_the_fine_tuned_variant_follows_the_stated_rule():
    summaries, tests, _ = analyse(SHAPE, RUNS, SETTINGS, BASELINE)
    ranking = rank(summaries)
    assert fine_tuning_choice(ranking, tests, BASELINE)[0] == "exp-lr0.01-k0.3"  # beyond margin
    within = {name: runs for name, runs in RUNS.items() if name != "exp-lr0.01-k0.3"}
    summaries, tests, _ = analyse(SHAPE, within, SETTINGS, BASELINE)
    chosen, why = fine_tuning_choice(rank(summaries), tests, BASELINE)
    assert chosen == BASELINE  # the highest mean is not beyond the margin: the fixed rate kept
    assert "no variant is better than it by more than the margin" in why
    assert "(step-lr0.01-drop0.5-every3)" in why
    assert fine_tuning_choice(["a", "b"], {}, BASELINE)[0] == "a"


def test_claims_are_answered_by_the_claimed_variant_trained_by_adam_alone():
    summaries, tests, design = analyse(SHAPE, RUNS, SETTINGS, BASELINE)
    ranking = rank(summaries)
    rows = claim_rows(ranking, tests, design, 0.01, RECORDS, BASELINE)
    answers = {row["the reference reports' claim"].split(": ")[1]: row for row in rows}
    accuracy = answers["higher final accuracy"]
    assert accuracy["variant"] == "exp-lr0.01-k0.3" and accuracy["answer"] == "confirmed"
    assert accuracy["here, vs fixed-lr0.001 (90 % interval)"].startswith("+4.00 [")
    assert accuracy["power for the claimed size"].endswith(" %")
    sooner = answers["converges sooner"]
    assert sooner["answer"] == "sooner, as claimed, but -18.0 epochs ruled out (p < 0.001)"
    step = [row for row in rows if row["variant"] == "step-lr0.01-drop0.5-every3"]
    assert [row["power for the claimed size"] for row in step] == ["-"] * 3
    # The reports trained with Adam: under SGD (here, SGD's baseline), no claim is answered.
    sgd = {name: {**found, "optimizer": "sgd"} for name, found in RECORDS.items()}
    assert claim_rows(ranking, tests, design, 0.01, sgd, BASELINE) == []
    adam_exp = {**sgd, "exp-lr0.01-k0.3": RECORDS["exp-lr0.01-k0.3"]}
    assert claim_rows(ranking, tests, design, 0.01, adam_exp, BASELINE) == []


def claim_test(difference, error, margin=0.01, freedom=40):
    return adjust({"v": judged(difference, error, freedom, margin)})["v"]


def test_a_claim_whose_reported_size_the_data_rule_out_is_refuted():
    accuracy, convergence, loss = CLAIMS[:3]
    assert accuracy.size == 0.0114  # 89.17 %, 1.14 points above fixed 0.001: the report's words
    assert answer(loss, claim_test(-0.0001, 0.0005, None), 0.01) == (
        "refuted: -0.1038 ruled out (p < 0.001)"
    )
    assert answer(convergence, claim_test(-1.5, 1.0, None), 0.01).startswith(
        "refuted: -18.0 epochs ruled out"
    )
    assert answer(convergence, claim_test(-1.5, 0.3, None), 0.01).startswith(
        "sooner, as claimed, but -18.0 epochs ruled out"
    )
    # Within the margin, significantly or not: refuted, the claimed +1.14 points out of reach.
    assert answer(accuracy, claim_test(0.001, 0.003), 0.01).startswith(
        "refuted: +1.14 points ruled out"
    )
    assert answer(accuracy, claim_test(0.005, 0.02), 0.01) == "not resolved"


def test_a_claim_shown_at_its_size_is_confirmed_and_one_shown_the_other_way_refuted():
    accuracy, _, loss = CLAIMS[:3]
    assert answer(accuracy, claim_test(0.0175, 0.003), 0.01) == "confirmed"
    assert answer(loss, claim_test(0.025, 0.005, None), 0.01) == "refuted: higher"


def test_lr_range_suggestion_is_where_the_loss_falls_fastest():
    lrs = np.geomspace(1e-6, 1, 121)
    # A loss that is flat, then falls steepest around 1e-3, then blows up past 1e-1.
    losses = (
        2.0
        - 1.5 / (1 + np.exp(-3 * (np.log10(lrs) + 3)))
        + np.where(lrs > 0.1, (lrs - 0.1) * 50, 0)
    )
    suggested, minimum = suggest_lr(lrs, losses)
    assert 3e-4 < suggested < 3e-3
    assert 1e-2 < minimum <= 0.2
    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # bias-corrected


def test_the_study_checks_its_pages_first_and_writes_the_blocks_each_has(tmp_path):
    readme, other = tmp_path / "README.md", tmp_path / "other.md"
    readme.write_text("<!-- verdict-g:start -->\nold\n<!-- verdict-g:end -->\n")
    other.write_text("no blocks here\n")
    check_pages([readme, other], "g")  # one page with a block of the grid is enough
    with pytest.raises(UserError, match="other.md: no block study-g or verdict-g to write the"):
        check_pages([other], "g")
    with pytest.raises(UserError, match="--page .*gone.md: no such file"):
        check_pages([readme, tmp_path / "gone.md"], "g")
    assert update_blocks(readme, {"study-g": "table\n", "verdict-g": "verdicts\n"}) == ["verdict-g"]
    assert readme.read_text() == "<!-- verdict-g:start -->\nverdicts\n<!-- verdict-g:end -->\n"


def test_a_study_is_published_from_its_runs_file_alone_and_refused_when_it_disagrees(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    fine_tuning = {
        "variant": "exp-lr0.01-k0.3",
        "experiment": "exp-lr0.01-k0.3-finetuned",
        "test": {
            "test_images": 9,
            "only_before_correct": 0,
            "only_after_correct": 2,
            "p_value": 0.5,
        },
        "validation": {"accuracy": [[8, 9], [0.9, 0.95]], "loss": [[8, 9], [0.3, 0.2]]},
    }
    written = {
        "kind": "plain",
        "grid": "g",
        "baseline": BASELINE,
        "split_seed": 42,
        "variants": RECORDS,
        "folds": SHAPE,
        "runs": RUNS,
        "fine_tuning": fine_tuning,
    }
    write_results(written)
    assert (tmp_path / runs_file("g")).name == "study-g-runs.json"
    kind, results = read_kind_results("g")
    assert kind is PlainGrid and results == written
    table = PlainGrid.publish(results, SETTINGS)
    assert (tmp_path / "metrics" / "study-g.md").read_text() == table
    assert "exp-lr0.01-k0.3-finetuned: Fine-tuned model against the head" in table
    assert sorted(path.name for path in (tmp_path / "plots" / "study-g").iterdir()) == [
        "best_accuracy.png",
        "best_loss.png",
        "exp_accuracy.png",
        "exp_loss.png",
        "fixed_accuracy.png",
        "fixed_loss.png",
        "step_accuracy.png",
        "step_loss.png",
        "test_accuracy.png",
    ]
    # Runs that fine-tuned another variant than the analysis picks now: refused, not published.
    results["fine_tuning"] = {**fine_tuning, "variant": BASELINE}
    with pytest.raises(UserError, match="the analysis now fine-tunes exp-lr0.01-k0.3, but these "):
        PlainGrid.publish(results, SETTINGS)
    with pytest.raises(UserError, match="^metrics/study-other-runs.json: no such file; run the"):
        read_kind_results("other")


def test_a_fine_tuning_grid_is_params_yamls_schedule_then_its_variants(tmp_path):
    grids = tmp_path / "study.yaml"
    grids.write_text(
        "ft:\n  finetune:\n    cosine:\n      - {initial_lr: 0.0001, warmup_epochs: 1, min_lr: 0}\n"
    )
    grid = study_grid("ft", grids)
    assert isinstance(grid, FinetuneGrid) and grid.baseline == "finetune-fixed-lr1e-05"
    cosine = "finetune-cosine-lr0.0001-warmup1-min0"
    assert [variant.name for variant in grid.variants] == [grid.baseline, cosine]
    assert [variant.family for variant in grid.variants] == [None, "cosine"]
    assert grid.runs[1].arguments[:4] == (
        *("-S", "finetune.schedule.name=cosine", "-S", "finetune.schedule.initial_lr=0.0001"),
    )
    assert grid.runs[1].targets == ("evaluate",)
    grids.write_text(
        "ft:\n  finetune:\n    cosine:\n      - {initial_lr: 1, warmup_epochs: 10, min_lr: 0}\n"
    )
    with pytest.raises(ParamError, match=r"ft.finetune.cosine.warmup_epochs = 10 .* < finetune"):
        study_grid("ft", grids)


def test_fine_tuning_variants_are_tested_image_by_image_against_the_reference():
    labels = [0] * 20
    runs = {
        "a": {"labels": labels, "predicted": [0] * 8 + [1] * 12, "val_accuracy": [[5], [0.4]]},
        "b": {"labels": labels, "predicted": [0] * 20, "val_accuracy": [[5], [0.9]]},
        "c": {
            "labels": labels,
            "predicted": [1] * 2 + [0] * 6 + [1] * 12,
            "val_accuracy": [[5], [0.3]],
        },
    }
    tests = judge_finetuning(runs, "a")
    assert (tests["b"]["only_after_correct"], tests["b"]["only_before_correct"]) == (12, 0)
    assert tests["b"]["p_value"] == pytest.approx(2 * 0.5**12)
    assert (tests["c"]["only_after_correct"], tests["c"]["only_before_correct"]) == (0, 2)
    rows = finetuning_rows(runs, "a", tests)
    assert [row["vs the reference"] for row in rows] == [
        "(reference)",
        "better",
        "no difference shown",
    ]
    assert rows[1]["test accuracy"] == "100.00 %" and rows[0]["test accuracy"] == "40.00 %"
    assert finetuning_verdict(rows) == (
        "Fine-tuning schedules against a (test accuracy 40.00 %), image by image on the test "
        "split: better: b; no difference shown: c."
    )


def test_variants_trained_on_other_folds_or_calibrating_a_grid_without_folds_is_one_line():
    record = {
        "seeds": [42, 43],
        "images": {"training": 10, "validation": [3, 3], "test": [4, 4]},
        "val_loss": [[1.0, 0.5]] * 4,
        "val_right": [[1, 2]] * 4,
        "test_right": ["f0"] * 4,
    }
    other = {**record, "seeds": [42, 43, 44]}
    with pytest.raises(UserError) as error:
        gathered({"fixed-lr0.001": record, "exp-lr0.01-k0.3": other})
    assert str(error.value) == (
        "exp-lr0.01-k0.3 was trained on other folds or seeds than the grid's other variants "
        "([4, 4] test images, seeds [42, 43, 44]): rerun it"
    )
    with pytest.raises(UserError) as error:
        outcomes_of({"grid": "finetuning", "runs": {}})
    assert str(error.value) == "grid 'finetuning' has no runs on folds to calibrate on"
