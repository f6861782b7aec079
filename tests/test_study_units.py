import numpy as np
import pytest

from lrstudy.errors import UserError
from lrstudy.params import ParamError
from lrstudy.reporting.verdicts import best_variant_verdict
from lrstudy.statistics import compare_with_baseline, summarize
from lrstudy.study.analysis import rank, study_rows
from lrstudy.study.cli import write_pages
from lrstudy.study.grid import BASELINE, load_grid, variant_args
from lrstudy.training.lr_range import smooth, suggest_lr
from lrstudy.training.schedules import variant_name
from tests.helpers.sandbox import REPO_ROOT


def test_the_reference_grids_have_the_reference_reports_variants():
    reference = load_grid("reference", 50, REPO_ROOT / "study.yaml")
    assert len(reference) == 18
    names = [name for name, _, _ in reference]
    assert names[:4] == ["fixed-lr0.1", "fixed-lr0.01", "fixed-lr0.001", "fixed-lr0.0001"]
    assert "exp-lr0.01-k0.3" in names and "step-lr0.1-drop0.5-every10" in names
    assert len(set(names)) == 18
    small_rates = load_grid("reference-small-rates", 50, REPO_ROOT / "study.yaml")
    assert [name for name, _, _ in small_rates] == [
        "fixed-lr1e-08",
        "fixed-lr1e-09",
        "fixed-lr1e-10",
        "exp-lr1e-08-k0.3",
        "exp-lr1e-08-k0.5",
        "exp-lr1e-08-k0.7",
        "exp-lr1e-08-k0.9",
    ]


def test_variant_names_and_dvc_arguments():
    assert (
        variant_name("step", {"initial_lr": 0.01, "drop": 0.5, "epochs_drop": 3.0})
        == "step-lr0.01-drop0.5-every3"
    )
    assert variant_args("exp", {"initial_lr": 0.01, "k": 0.3}) == [
        "-S",
        "schedule.name=exp",
        "-S",
        "schedule.initial_lr=0.01",
        "-S",
        "schedule.k=0.3",
    ]


def test_grids_are_checked_like_params(tmp_path):
    grids = tmp_path / "study.yaml"
    grids.write_text("bad:\n  exp:\n    - {initial_lr: 0.01, k: -1}\n")
    with pytest.raises(ParamError, match="schedule.k = -1"):
        load_grid("bad", 50, grids)
    with pytest.raises(UserError, match="no grid 'missing'; it has bad"):
        load_grid("missing", 50, grids)


def summaries_of(finals, losses):
    return {
        name: {
            "final_val_accuracy": summarize(finals[name]),
            "best_val_accuracy": summarize(finals[name]),
            "final_val_loss": summarize(losses[name]),
        }
        for name in finals
    }


def test_best_is_highest_mean_accuracy_then_lowest_mean_loss():
    summaries = summaries_of(
        {"a": [0.88, 0.88], "b": [0.89, 0.89], "c": [0.88, 0.90]},
        {"a": [0.3, 0.3], "b": [0.4, 0.4], "c": [0.2, 0.32]},
    )
    assert rank(summaries) == ["c", "b", "a"]


def test_study_table_and_verdict_come_from_the_paired_tests():
    finals = {BASELINE: [0.95] * 10, "exp-lr0.01-k0.3": [0.96] * 10, "fixed-lr0.1": [0.95] * 10}
    losses = {name: [0.2] * 10 for name in finals}
    summaries = summaries_of(finals, losses)
    tests = compare_with_baseline(finals, BASELINE)
    rows = study_rows(summaries, tests, {BASELINE: 7.5}, dict.fromkeys(finals, 10))
    assert [row["variant"] for row in rows] == ["exp-lr0.01-k0.3", BASELINE, "fixed-lr0.1"]
    assert rows[0]["final val accuracy"] == "96.00 ± 0.00 %"
    assert rows[0][f"vs {BASELINE} (points)"] == "+1.00"
    assert rows[0]["p"] == "0.00195" and rows[0]["p (BH)"] == "0.00391"
    assert rows[1]["p"] == "" and rows[1]["wall time (s)"] == 7.5
    verdict = best_variant_verdict("exp-lr0.01-k0.3", BASELINE, summaries, tests, 10)
    assert "0.00391 after Benjamini-Hochberg over 2 comparisons" in verdict
    assert verdict.endswith("exp-lr0.01-k0.3 is better.")
    best_is_baseline = best_variant_verdict(BASELINE, BASELINE, summaries, tests, 10)
    assert "no schedule of this grid does better" in best_is_baseline
    lone = summaries_of({"a": [0.9]}, {"a": [0.1]})
    assert "no test" in best_variant_verdict("a", BASELINE, lone, {}, 1)


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


def test_the_study_writes_the_blocks_a_page_has_and_refuses_pages_with_none(tmp_path):
    readme, other = tmp_path / "README.md", tmp_path / "other.md"
    readme.write_text("<!-- verdict-g:start -->\nold\n<!-- verdict-g:end -->\n")
    other.write_text("no blocks here\n")
    blocks = {"study-g": "table\n", "verdict-g": "verdicts\n"}
    write_pages([readme, other], blocks)
    assert readme.read_text() == "<!-- verdict-g:start -->\nverdicts\n<!-- verdict-g:end -->\n"
    with pytest.raises(UserError, match="no block study-g or verdict-g to write the study into"):
        write_pages([other], blocks)
