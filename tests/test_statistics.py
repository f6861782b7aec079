"""The study's statistics against values computed by hand."""

import math

import numpy as np
import pytest

from lrstudy.statistics import (
    adjust_p_values,
    compare_with_baseline,
    curve_band,
    equivalence_test,
    expected_best,
    mcnemar_exact,
    minimum_detectable_difference,
    outcome,
    paired_test,
    per_seed_results,
    sign_flip_p,
    summarize,
)


def test_summary_mean_sample_std_and_t_interval():
    summary = summarize([1, 2, 3, 4])
    # std = sqrt(((1.5² + 0.5²) * 2) / 3); half width = t(0.975, df=3) * std / sqrt(4)
    std = math.sqrt(5 / 3)
    half = 3.182446305 * std / 2
    assert summary["mean"] == 2.5
    assert summary["std"] == pytest.approx(std, rel=1e-5)
    assert summary["ci95_low"] == pytest.approx(2.5 - half, rel=1e-5)
    assert summary["ci95_high"] == pytest.approx(2.5 + half, rel=1e-5)
    assert summarize([0.5]) == {"mean": 0.5, "std": None, "ci95_low": None, "ci95_high": None}
    assert summarize([0.9, 0.9, 0.9]) == {
        "mean": 0.9,
        "std": 0.0,
        "ci95_low": 0.9,
        "ci95_high": 0.9,
    }


def test_per_seed_results_and_bands():
    history = {
        "val_accuracy": [[0.5, 0.8, 0.7], [0.6, 0.6, 0.9]],
        "val_loss": [[1.0, 0.4, 0.6], [0.9, 0.8, 0.5]],
    }
    assert per_seed_results(history) == {
        "final_val_accuracy": [0.7, 0.9],
        "best_val_accuracy": [0.8, 0.9],
        "final_val_loss": [0.6, 0.5],
    }
    mean, std = curve_band([[1.0, 2.0], [3.0, 2.0]])
    assert mean == [2.0, 2.0] and std == pytest.approx([math.sqrt(2), 0.0])
    assert curve_band([[1.0, 2.0]]) == ([1.0, 2.0], [0.0, 0.0])


def test_the_expected_best_of_n_trials_is_the_mean_maximum_of_n_draws():
    values = [0.2, 0.5, 0.9]
    assert expected_best(values, 1) == pytest.approx((np.mean(values), np.std(values)))
    # Two draws of three: the best is 0.2 in 1 of 9 pairs, 0.5 in 3, 0.9 in 5.
    mean = (0.2 * 1 + 0.5 * 3 + 0.9 * 5) / 9
    spread = math.sqrt((1 * (0.2 - mean) ** 2 + 3 * (0.5 - mean) ** 2 + 5 * (0.9 - mean) ** 2) / 9)
    assert expected_best(values, 2) == pytest.approx((mean, spread))
    rng = np.random.default_rng(0)
    draws = rng.choice(values, size=(200_000, 4)).max(axis=1)
    assert expected_best(values, 4)[0] == pytest.approx(draws.mean(), abs=0.002)
    assert expected_best(values, 1000) == pytest.approx((0.9, 0.0), abs=1e-9)


def test_paired_sign_flip_test_is_exact():
    # Ten pairs, all +1: only the all-plus and all-minus of the 2^10 sign patterns are as extreme.
    assert paired_test([1.0] * 10, [0.0] * 10)["p_value"] == pytest.approx(2 / 1024, rel=1e-5)
    # +1, +1, +1, -1: |sum| >= 2 in 10 of the 16 patterns (sum ±4: 2, sum ±2: 8).
    result = paired_test([1, 1, 1, 0], [0, 0, 0, 1])
    assert result == {"mean_difference": 0.5, "p_value": pytest.approx(10 / 16, rel=1e-5)}
    assert paired_test([0.95, 0.96], [0.95, 0.96]) == {"mean_difference": 0.0, "p_value": 1.0}
    with pytest.raises(ValueError, match="one baseline value per value"):
        paired_test([1, 2, 3], [1, 2])


def test_benjamini_hochberg_by_hand():
    # Sorted 0.01, 0.03, 0.04, 0.5 times 4/rank: 0.04, 0.06, 0.0533, 0.5; then the running
    # minimum from the largest down.
    assert adjust_p_values([0.01, 0.04, 0.03, 0.5]) == pytest.approx(
        [0.04, 0.16 / 3, 0.16 / 3, 0.5]
    )
    assert adjust_p_values([]) == []


def test_comparisons_with_the_baseline():
    finals = {"base": [0.5] * 10, "better": [0.6] * 10, "same": [0.5] * 10}
    tests = compare_with_baseline(finals, "base")
    assert set(tests) == {"better", "same"}
    assert tests["better"]["p_value"] == pytest.approx(2 / 1024, rel=1e-5)
    assert tests["better"]["p_adjusted"] == pytest.approx(
        4 / 1024, rel=1e-5
    )  # 2 comparisons, rank 1
    assert tests["same"] == {
        "mean_difference": 0.0,
        "p_value": 1.0,
        "differences": [0.0] * 10,
        "detectable": 0.0,
        "detectable_adjusted": 0.0,
        "p_adjusted": 1.0,
    }
    with_margin = compare_with_baseline(finals, "base", margin=0.05)
    # "same" lies within ± 0.05 by both one-sided tests (p = 1/1024 each); "better" does not.
    assert with_margin["same"]["p_equivalence"] == pytest.approx(1 / 1024, rel=1e-5)
    assert with_margin["same"]["p_equivalence_adjusted"] == pytest.approx(2 / 1024, rel=1e-5)
    assert with_margin["better"]["p_equivalence"] == 1.0


def test_the_detectable_difference_is_found_80_percent_of_the_time():
    # Ten pairs whose differences have a sample standard deviation of exactly 0.5 points.
    spread = np.array([1.0, -1.0] * 5)
    spread *= 0.005 / np.std(spread, ddof=1)
    detectable = minimum_detectable_difference(spread)
    # The t-test's answer is about one standard deviation for ten pairs ...
    assert 0.0049 < detectable < 0.0051
    # ... and the sign-flip test, run on simulated studies with that true difference, finds it
    # about 80 % of the time (the t-test's power; the sign-flip test loses a little).
    rng = np.random.default_rng(0)
    found = [sign_flip_p(rng.normal(detectable, 0.005, 10)) < 0.05 for _ in range(300)]
    assert 0.7 < np.mean(found) < 0.88
    # A stricter threshold needs a larger difference; five pairs cannot reach 0.05 at all
    # (their smallest p is 2/32), six can.
    assert minimum_detectable_difference(spread, alpha=0.05 / 17) > detectable
    assert minimum_detectable_difference(spread[:5]) is None
    assert minimum_detectable_difference(spread[:6]) is not None
    assert minimum_detectable_difference([0.01] * 10) == 0.0
    # Arguments where SciPy's noncentral t cdf returns NaN (df 9 at 0.01): still a number.
    epochs = [-2, -2, -3, -2, -1, -1, -1, -1, -1, -1]
    assert 0.9 < minimum_detectable_difference(epochs, alpha=0.01) < 1.0


def test_equivalence_needs_both_one_sided_tests():
    baseline = [0.95] * 10
    close = [0.95 + offset for offset in (0.001, -0.001) * 5]
    # Every difference within ± 1 point: each one-sided test has only the observed sign pattern
    # as extreme, p = 1/1024.
    assert equivalence_test(close, baseline, 0.01) == pytest.approx(1 / 1024, rel=1e-5)
    assert equivalence_test([0.97] * 10, baseline, 0.01) == 1.0  # 2 points away: not within 1
    spread = [0.95 + offset for offset in (0.03, -0.03) * 5]
    assert equivalence_test(spread, baseline, 0.01) > 0.05  # too noisy to say


def test_outcomes_of_adjusted_comparisons():
    assert outcome({"mean_difference": 0.01, "p_adjusted": 0.01}) == "better"
    assert outcome({"mean_difference": -0.01, "p_adjusted": 0.01}) == "worse"
    assert outcome({"mean_difference": -0.1, "p_adjusted": 0.01}, lower_is_better=True) == "better"
    tested = {"mean_difference": 0.001, "p_adjusted": 0.6, "p_equivalence_adjusted": 0.01}
    assert outcome(tested) == "equivalent"
    assert outcome({**tested, "p_equivalence_adjusted": 0.3}) == "inconclusive"
    assert outcome({"mean_difference": 0.0, "p_adjusted": 0.6}) == "inconclusive"


def test_mcnemar_exact_counts_the_discordant_images():
    before = [True] * 4 + [False] * 6 + [True] * 10
    after = [True] * 4 + [True] * 6 + [True] * 10
    # 6 images right only after, none only before: p = 2 * 0.5^6.
    assert mcnemar_exact(before, after) == {
        "only_before_correct": 0,
        "only_after_correct": 6,
        "p_value": pytest.approx(2 / 64, rel=1e-5),
    }
    balanced = mcnemar_exact([True, False, True], [False, True, True])
    assert balanced == {"only_before_correct": 1, "only_after_correct": 1, "p_value": 1.0}
    assert mcnemar_exact([True, True], [True, True])["p_value"] == 1.0
