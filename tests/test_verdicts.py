"""The verdict sentences and number formats, written from constructed statistics."""

from lrstudy.reporting.formatting import interval, mean_std
from lrstudy.reporting.verdicts import comparison_verdict, mcnemar_verdict, significance_count
from lrstudy.statistics import paired_test, summarize


def test_verdicts_are_written_from_the_numbers():
    better, baseline = summarize([0.96] * 9 + [0.97]), summarize([0.95] * 10)
    significant = comparison_verdict(
        "exp", better, "fixed", baseline, paired_test([0.96] * 9 + [0.97], [0.95] * 10), 10
    )
    assert "a difference of +1.10 points, p = 0.00195" in significant
    assert significant.endswith("significant at 0.05, exp is better.")
    noisy = comparison_verdict(
        "exp",
        better,
        "fixed",
        baseline,
        {"mean_difference": 0.011, "p_value": 0.01},
        10,
        adjusted=0.2,
        comparisons=17,
    )
    assert "0.2 after Benjamini-Hochberg over 17 comparisons" in noisy
    assert "not significant at 0.05" in noisy and "does not show exp to be better" in noisy
    one_seed = comparison_verdict(
        "exp", summarize([0.9]), "fixed", summarize([0.8]), paired_test([0.9], [0.8]), 1
    )
    assert one_seed.endswith("no verdict.") and "p = 1 " in one_seed
    changed = mcnemar_verdict(
        {"only_before_correct": 0, "only_after_correct": 6, "p_value": 0.03125, "test_images": 243}
    )
    assert "on the 243 test images: 6 right only after fine-tuning, 0 right only before" in changed
    assert changed.endswith("fine-tuning made it better.")
    unchanged = mcnemar_verdict(
        {"only_before_correct": 2, "only_after_correct": 3, "p_value": 1.0, "test_images": 243}
    )
    assert unchanged.endswith("not significant at 0.05, no change shown.")


def test_formatting_in_percent():
    summary = summarize([0.95, 0.96])
    assert mean_std(summary) == "95.50 ± 0.71 %"
    assert interval(summary) == "[89.15, 101.85]"
    assert mean_std(summarize([0.9])) == "90.00 %" and interval(summarize([0.9])) == ""


def test_the_significance_count_names_the_variants_each_way():
    tests = {
        "a": {"mean_difference": 0.02, "p_adjusted": 0.01},
        "b": {"mean_difference": -0.03, "p_adjusted": 0.001},
        "c": {"mean_difference": 0.01, "p_adjusted": 0.2},
    }
    sentence = significance_count(tests, "fixed-lr0.001")
    assert sentence == (
        "After Benjamini-Hochberg over the 3 comparisons with fixed-lr0.001, 1 variants are "
        "significantly better (a) and 1 significantly worse (b) at 0.05."
    )
