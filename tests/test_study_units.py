import dataclasses

import numpy as np
import pytest

from lrstudy.core.config import ParamError, TrainConfig, VerdictsConfig, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import variant_name
from lrstudy.heads.lr_range import smooth, suggest_lr
from lrstudy.pages import update_blocks
from lrstudy.reporting.verdicts import best_variant_verdict
from lrstudy.study.analysis import analyse, fine_tuning_choice, rank, study_rows, table_notes
from lrstudy.study.claims import CLAIMS, answer, claim_rows, claimed_variants
from lrstudy.study.cli import check_pages
from lrstudy.study.kinds import KINDS, kind_named
from lrstudy.study.kinds.finetune_schedules import (
    FinetuneGrid,
    finetuning_rows,
    finetuning_verdict,
    judge_finetuning,
)
from lrstudy.study.kinds.plain import PlainGrid
from lrstudy.study.results import read_results, runs_file, write_results
from lrstudy.study.splits import rerun_variants, robustness_rows, robustness_sentence, split_runs
from lrstudy.study.variants import Run, Variant
from tests.helpers.grids import record, study_grid
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


SETTINGS = VerdictsConfig(margin=1.0, convergence=0.99)


def histories_of(finals):
    """Per variant, ten seeds' curves that climb to each seed's final accuracy (in epoch 3 for
    variants whose name starts with "exp", in epoch 5 otherwise), with loss 1 - accuracy."""
    histories = {}
    for name, values in finals.items():
        climb = 3 if name.startswith("exp") else 5
        curves = [[final * min(1.0, (epoch + 1) / climb) for epoch in range(8)] for final in values]
        histories[name] = {
            "val_accuracy": curves,
            "val_loss": [[1 - value for value in curve] for curve in curves],
        }
    return histories


def test_best_is_highest_mean_accuracy_then_lowest_mean_loss():
    finals = {"a": [0.88, 0.88], "b": [0.89, 0.89], "c": [0.88, 0.90]}
    losses = {"a": [0.3, 0.3], "b": [0.4, 0.4], "c": [0.2, 0.32]}
    histories = {
        name: {"val_accuracy": [[value] for value in finals[name]], "val_loss": [[v] for v in loss]}
        for name, loss in losses.items()
    }
    summaries, _ = analyse(histories, SETTINGS, BASELINE)
    assert rank(summaries) == ["c", "b", "a"]  # b and c tie on accuracy; c's loss is lower


FINALS = {
    BASELINE: [0.95] * 10,
    "exp-lr0.01-k0.3": [0.96] * 10,
    "fixed-lr0.1": [0.95 + offset for offset in (0.002, -0.001) * 5],
    "step-lr0.01-drop0.5-every3": [0.95 + offset for offset in (0.03, -0.028) * 5],
}


def test_study_table_and_verdict_come_from_the_paired_tests():
    histories = histories_of(FINALS)
    summaries, tests = analyse(histories, SETTINGS, BASELINE)
    assert tests["epochs_to_converge"]["exp-lr0.01-k0.3"]["mean_difference"] == -2  # 3 vs 5
    rows = study_rows(summaries, tests, dict.fromkeys(FINALS, 10), SETTINGS, BASELINE)
    assert rows[0]["variant"] == "exp-lr0.01-k0.3"
    best = rows[0]
    assert best["final val accuracy"] == "96.00 ± 0.00 %"
    assert best[f"vs {BASELINE} (points)"] == "+1.00" and best["outcome"] == "better"
    assert best["p"] == "0.00195" and best["p (BH)"] == "0.00586"
    assert best["epochs to 99 % of final"] == "3.0 ± 0.0 (-2.0, p 0.00586)"
    assert best["final val loss"].startswith("0.0400 ± 0.0000 (-0.0100, p ")
    outcomes = {row["variant"]: row["outcome"] for row in rows}
    assert outcomes["fixed-lr0.1"] == "equivalent"
    assert outcomes["step-lr0.01-drop0.5-every3"] == "inconclusive"
    assert "within ±1 point: p (BH)" in best
    assert "; within ±1 point: the two one-sided tests" in table_notes(SETTINGS, BASELINE)
    baseline = next(row for row in rows if row["variant"] == BASELINE)
    assert baseline["p"] == "" and baseline["outcome"] == ""
    verdict = best_variant_verdict("exp-lr0.01-k0.3", BASELINE, summaries, tests, 10, SETTINGS)
    assert "0.00586 after Benjamini-Hochberg over 3 comparisons" in verdict
    assert "exp-lr0.01-k0.3 is better." in verdict
    assert "Epochs to 99 % of its own final validation accuracy: 3.0 ± 0.0 against 5.0" in verdict
    assert "Final validation loss: 0.0400 ± 0.0000 against 0.0500" in verdict
    best_is_baseline = best_variant_verdict(BASELINE, BASELINE, summaries, tests, 10, SETTINGS)
    assert "no schedule of this grid does better" in best_is_baseline
    lone, none = analyse(histories_of({"a": [0.9]}), SETTINGS, BASELINE)
    assert "no test" in best_variant_verdict("a", BASELINE, lone, none, 1, SETTINGS)


def test_the_fine_tuned_variant_follows_the_stated_rule():
    _, tests = analyse(histories_of(FINALS), SETTINGS, BASELINE)
    ranking = ["exp-lr0.01-k0.3", "fixed-lr0.1", BASELINE]
    better = fine_tuning_choice(ranking, tests, BASELINE)[0]
    assert better == "exp-lr0.01-k0.3"  # significantly better
    noise = {**FINALS, "exp-lr0.01-k0.3": FINALS["step-lr0.01-drop0.5-every3"]}
    _, tests = analyse(histories_of(noise), SETTINGS, BASELINE)
    chosen, why = fine_tuning_choice(ranking, tests, BASELINE)
    assert chosen == BASELINE  # the highest mean is only noise: the fixed rate is kept
    assert "no variant is significantly better than it" in why and "(exp-lr0.01-k0.3)" in why
    assert fine_tuning_choice(["a", "b"], {}, BASELINE)[0] == "a"


RECORDS = {  # what the variants of FINALS are, as the runs file records them
    BASELINE: record("fixed", initial_lr=0.001),
    "exp-lr0.01-k0.3": record("exp", initial_lr=0.01, k=0.3),
    "fixed-lr0.1": record("fixed", initial_lr=0.1),
    "step-lr0.01-drop0.5-every3": record("step", initial_lr=0.01, drop=0.5, epochs_drop=3.0),
}


def test_claims_are_answered_and_checked_on_the_other_splits():
    summaries, tests = analyse(histories_of(FINALS), SETTINGS, BASELINE)
    ranking = rank(summaries)
    claimed = ["exp-lr0.01-k0.3", "step-lr0.01-drop0.5-every3"]
    assert claimed_variants(ranking, RECORDS, BASELINE) == claimed
    flipped = {**FINALS, "exp-lr0.01-k0.3": [0.95] * 10}
    _, other_split = analyse(histories_of(flipped), SETTINGS, BASELINE)
    rows = claim_rows(ranking, tests, 0.01, {43: tests, 44: other_split}, RECORDS, BASELINE)
    exp_accuracy = next(row for row in rows if "k = 0.3: higher final accuracy" in str(row))
    assert exp_accuracy["here, vs fixed-lr0.001"] == "+1.00 points"
    # Significantly better, yet every seed short of the reported +1.17 points.
    better_but_less = "better, as claimed, but +1.17 points ruled out (p = 0.000977)"
    assert exp_accuracy["answer"] == better_but_less
    assert exp_accuracy["on the other splits"] == (
        "43: " + better_but_less + "; 44: refuted: equivalent within ±1 point"
    )
    step = [row for row in rows if row["variant"] == "step-lr0.01-drop0.5-every3"]
    assert [row["answer"] for row in step] == ["inconclusive"] * 3
    assert {row["on the other splits"] for row in step} == {"the same"}
    assert claim_rows(["fixed-lr0.1", BASELINE], tests, 0.01, {}, RECORDS, BASELINE) == []
    # The reports trained with Adam: under SGD (here, SGD's baseline), no claim is answered.
    sgd = {name: {**found, "optimizer": "sgd"} for name, found in RECORDS.items()}
    assert claimed_variants(ranking, sgd, BASELINE) == []
    adam_exp = {**sgd, "exp-lr0.01-k0.3": RECORDS["exp-lr0.01-k0.3"]}
    assert claimed_variants(ranking, adam_exp, BASELINE) == []


def test_a_claim_whose_reported_size_the_data_rule_out_is_refuted():
    accuracy, convergence, loss = CLAIMS[:3]
    small = [0.0004, -0.0006] * 5  # paired loss differences: far from the reported -0.1038
    test = {"mean_difference": -0.0001, "p_adjusted": 0.9, "differences": small}
    assert answer(loss, test, 0.01) == "refuted: -0.1038 ruled out (p = 0.000977)"
    sooner = {"mean_difference": -1.5, "p_adjusted": 0.13, "differences": [-1, -2] * 5}
    assert answer(convergence, sooner, 0.01) == "refuted: -18.0 epochs ruled out (p = 0.000977)"
    significant = {**sooner, "p_adjusted": 0.01}  # sooner, but by 1.5 epochs, not 18
    assert answer(convergence, significant, 0.01) == (
        "sooner, as claimed, but -18.0 epochs ruled out (p = 0.000977)"
    )
    noisy = [0.03, -0.028] * 5  # 3 points either way: +1.17 is neither shown nor ruled out
    test = {"mean_difference": 0.001, "p_adjusted": 0.9, "p_equivalence_adjusted": 0.6}
    assert answer(accuracy, {**test, "differences": noisy}, 0.01) == "inconclusive"


def test_a_claim_shown_at_its_size_is_confirmed_and_one_shown_the_other_way_refuted():
    accuracy, _, loss = CLAIMS[:3]
    larger = [0.02, 0.015] * 5  # every seed above the reported +1.17 points
    test = {"mean_difference": 0.0175, "p_adjusted": 0.002, "differences": larger}
    assert answer(accuracy, test, 0.01) == "confirmed"
    higher = [0.02, 0.03] * 5  # the loss significantly higher, not lower as claimed
    test = {"mean_difference": 0.025, "p_adjusted": 0.002, "differences": higher}
    assert answer(loss, test, 0.01) == "refuted: higher"


def test_split_reruns_name_each_variant_and_split_and_report_each_split():
    ranking = ["exp-lr0.01-k0.3", BASELINE, "fixed-lr0.1", "step-lr0.01-drop0.5-every3"]
    claimed = ["exp-lr0.01-k0.3", "step-lr0.01-drop0.5-every3"]
    chosen = rerun_variants(ranking, 2, claimed, BASELINE)
    assert chosen == [BASELINE, "exp-lr0.01-k0.3", "fixed-lr0.1", "step-lr0.01-drop0.5-every3"]
    runs = split_runs(
        [Run(name, (f"-S schedule.of={name}",), ("train",)) for name in chosen], [43, 44]
    )
    assert len(runs) == 8 and runs[0] == Run(
        f"{BASELINE}-split43", (f"-S schedule.of={BASELINE}", "-S", "split.seed=43"), ("train",)
    )
    assert runs[-1].name == "step-lr0.01-drop0.5-every3-split44"
    _, tests = analyse(histories_of(FINALS), SETTINGS, BASELINE)
    flipped = {**FINALS, "exp-lr0.01-k0.3": [0.95] * 10}
    _, other = analyse(histories_of(flipped), SETTINGS, BASELINE)
    rows = robustness_rows(chosen, 42, tests, {43: tests, 44: other}, BASELINE)
    exp = rows[0]
    assert exp == {
        "variant": "exp-lr0.01-k0.3",
        "split 42": "+1.00, better",
        "split 43": "+1.00, better",
        "split 44": "+0.00, equivalent",
        "holds on every split": "no",
    }
    sentence = robustness_sentence(rows, [42, 43, 44], 10, BASELINE)
    assert "holds on every split for 2 of the 3." in sentence


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
    histories = histories_of(FINALS)
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
    split = {43: {name: histories[name] for name in (BASELINE, "exp-lr0.01-k0.3")}}
    rerun = [BASELINE, "exp-lr0.01-k0.3"]
    written = {
        "kind": "plain",
        "grid": "g",
        "baseline": BASELINE,
        "split_seed": 42,
        "variants": RECORDS,
        "histories": histories,
        "rerun": rerun,
        "split_histories": {str(seed): found for seed, found in split.items()},
        "fine_tuning": fine_tuning,
    }
    write_results(written)
    assert (tmp_path / runs_file("g")).name == "study-g-runs.json"
    results = read_results("g")
    assert results["histories"] == histories and results["split_histories"] == split
    assert results["kind"] == "plain" and results["variants"] == RECORDS
    table = PlainGrid.publish(results, SETTINGS)
    assert (tmp_path / "metrics" / "study-g.md").read_text() == table
    assert "Rerun on split seeds 42, 43 (1 variants and fixed-lr0.001" in table
    assert "exp-lr0.01-k0.3-finetuned: Fine-tuned model against the head" in table
    assert sorted(path.name for path in (tmp_path / "plots" / "study-g").iterdir()) == [
        "best_accuracy.png",
        "best_loss.png",
        "exp_accuracy.png",
        "exp_loss.png",
        "final_accuracy.png",
        "fixed_accuracy.png",
        "fixed_loss.png",
        "step_accuracy.png",
        "step_loss.png",
    ]
    # Runs that fine-tuned another variant than the analysis picks now: refused, not published.
    results["fine_tuning"] = {**fine_tuning, "variant": BASELINE}
    with pytest.raises(UserError, match="the analysis now fine-tunes exp-lr0.01-k0.3, but these "):
        PlainGrid.publish(results, SETTINGS)
    with pytest.raises(UserError, match="^metrics/study-other-runs.json: no such file; run the"):
        read_results("other")


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
