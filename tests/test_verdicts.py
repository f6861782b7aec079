"""The verdict sentences and number formats, written from constructed statistics: one case per
outcome (better, worse, equivalent, inconclusive) of the report's verdict, and McNemar's."""

import pytest

from lrstudy.core.config import parse_group
from lrstudy.core.errors import UserError
from lrstudy.reporting.measures import interval, mean_std
from lrstudy.reporting.verdicts import comparison_verdict, mcnemar_verdict
from lrstudy.statistics import compare_with_baseline, summarize

BASE = [0.95] * 10
CASES = {
    "better": [0.96] * 9 + [0.97],
    "worse": [0.94] * 9 + [0.93],
    "equivalent": [0.95 + offset for offset in (0.002, -0.001) * 5],
    "inconclusive": [0.95 + offset for offset in (0.03, -0.028) * 5],
}


def verdict_of(case, comparisons=1):
    test = compare_with_baseline({"exp": CASES[case], "fixed": BASE}, "fixed", 0.01)["exp"]
    summary, baseline = summarize(CASES[case]), summarize(BASE)
    return comparison_verdict("exp", summary, "fixed", baseline, test, 10, 0.01, comparisons)


def test_each_outcome_has_its_sentence():
    better = verdict_of("better")
    assert "a difference of +1.10 points, p = 0.00195 (sign-flip permutation test)" in better
    assert "significant at 0.05, exp is better." in better
    assert "significant at 0.05, exp is worse." in verdict_of("worse")
    equivalent = verdict_of("equivalent")
    assert "not significant at 0.05, and two one-sided tests put it within ±1 point" in equivalent
    assert "exp is equivalent to fixed." in equivalent
    inconclusive = verdict_of("inconclusive")
    assert "nor shown within ±1 point" in inconclusive
    assert "inconclusive; this data shows exp neither better than, worse than, nor" in inconclusive
    # Every verdict says what the test could have found.
    for sentence in (better, equivalent, inconclusive):
        assert " would be found 80 % of the time at 0.05." in sentence
    adjusted = verdict_of("better", comparisons=17)
    assert "would be found 80 % of the time at 0.05, " in adjusted
    assert " at 0.05/17 (Benjamini-Hochberg's threshold when only one variant differs)." in adjusted


def test_too_few_seeds_give_no_verdict_or_no_power():
    one = compare_with_baseline({"exp": [0.9], "fixed": [0.8]}, "fixed", 0.01)["exp"]
    lone = comparison_verdict("exp", summarize([0.9]), "fixed", summarize([0.8]), one, 1, 0.01, 1)
    assert lone.endswith("no verdict.") and "p = 1 " in lone
    few = compare_with_baseline({"exp": [0.9] * 3, "fixed": [0.8] * 3}, "fixed", 0.01)["exp"]
    sentence = comparison_verdict(
        "exp", summarize([0.9] * 3), "fixed", summarize([0.8] * 3), few, 3, 0.01, 1
    )
    assert "With 3 seeds no difference can reach 0.05: the sign-flip test's smallest p is 0.25" in (
        sentence
    )


def test_mcnemar_sentences():
    changed = mcnemar_verdict(
        {"only_before_correct": 0, "only_after_correct": 6, "p_value": 0.03125, "test_images": 243}
    )
    assert "on the 243 test images: 6 right only after fine-tuning, 0 right only before" in changed
    assert changed.endswith("fine-tuning made it better.")
    unchanged = mcnemar_verdict(
        {"only_before_correct": 2, "only_after_correct": 3, "p_value": 1.0, "test_images": 243}
    )
    assert unchanged.endswith("not significant at 0.05, no difference shown.")


def test_formatting_in_percent():
    summary = summarize([0.95, 0.96])
    assert mean_std(summary) == "95.50 ± 0.71 %"
    assert interval(summary) == "[89.15, 101.85]"
    assert mean_std(summarize([0.9])) == "90.00 %" and interval(summarize([0.9])) == ""


def test_verdict_settings_are_checked_like_params():
    assert parse_group("verdicts", {"margin": "0.5"}).margin_fraction == 0.005
    with pytest.raises(UserError, match="verdicts.margin = 0 is not allowed"):
        parse_group("verdicts", {"margin": 0})
    with pytest.raises(UserError, match="verdicts.margin is missing"):
        parse_group("verdicts", {})
