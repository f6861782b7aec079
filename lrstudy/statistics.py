"""Statistics of a study repeated over seeds: summaries with intervals, a paired test against a
baseline with its power and an equivalence test, Benjamini-Hochberg over several comparisons,
the expected best of a random search's trials, and McNemar's exact test (the study's inference
over images and seeds builds on these: lrstudy/inference.py). Pure functions of numbers; the
sentences that state their outcome are lrstudy/reporting/verdicts.py's.

Runs with the same seed share their initial weights and batch order, so two schedules trained on
seeds 42..51 form pairs: the test looks at the ten paired differences, not at two clouds of runs.
"""

import math

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95
ALPHA = 0.05
POWER = 0.8
DIGITS = 6  # significant


def _rounded(value):
    return None if value is None else float(f"{float(value):.{DIGITS}g}")


def summarize(values):
    """Mean, sample standard deviation and the 95 % t-interval of the mean; with a single value
    the spread is unknown (None)."""
    values = np.asarray(values, dtype=float)
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": _rounded(mean), "std": None, "ci95_low": None, "ci95_high": None}
    std = float(np.std(values, ddof=1))
    if std == 0:
        low = high = mean
    else:
        low, high = stats.t.interval(
            CONFIDENCE, len(values) - 1, loc=mean, scale=std / math.sqrt(len(values))
        )
    return {
        "mean": _rounded(mean),
        "std": _rounded(std),
        "ci95_low": _rounded(low),
        "ci95_high": _rounded(high),
    }


def per_seed_results(history):
    """Final and best validation accuracy and final loss of each seed's run, from per-epoch
    histories ({"val_accuracy": [[epochs of seed 1], ...], "val_loss": [...]})."""
    accuracy = np.asarray(history["val_accuracy"], dtype=float)
    loss = np.asarray(history["val_loss"], dtype=float)
    return {
        "final_val_accuracy": accuracy[:, -1].tolist(),
        "best_val_accuracy": accuracy.max(axis=1).tolist(),
        "final_val_loss": loss[:, -1].tolist(),
    }


def curve_band(runs):
    """Per-epoch mean and sample standard deviation (0 for a single run) of equal-length runs."""
    runs = np.asarray(runs, dtype=float)
    std = runs.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(runs.shape[1])
    return runs.mean(axis=0).tolist(), std.tolist()


def expected_best(values, trials):
    """(mean, standard deviation) of the best of `trials` draws with replacement from `values`
    (the scores of a family's trials): the expected validation performance of a random search
    at that budget (Dodge et al. 2019, "Show your work"). The best of n draws is the i-th
    lowest of the N values with probability (i/N)^n - ((i-1)/N)^n."""
    ordered = np.sort(np.asarray(values, dtype=float))
    ranks = np.arange(1, len(ordered) + 1) / len(ordered)
    weights = ranks**trials - (ranks - 1 / len(ordered)) ** trials
    mean = float(weights @ ordered)
    return mean, math.sqrt(max(0.0, float(weights @ (ordered - mean) ** 2)))


def sign_flip_p(values, alternative="two-sided"):
    """p of a sign-flip permutation test that `values` are centred on 0: under that hypothesis
    each value's sign is a coin flip. Exact (all 2^n sign patterns) for up to 13 values; free of
    any normality assumption, which accuracies counted in whole images do not meet. All zeros
    give p = 1, as does a single value: no spread to test against."""
    values = np.asarray(values, dtype=float)
    if not values.any() or len(values) < 2:
        return 1.0
    result = stats.permutation_test(
        (values,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        alternative=alternative,
        rng=0,
    )
    return _rounded(min(1.0, result.pvalue))


def paired_test(values, baseline):
    """Two-sided sign-flip test of the mean paired difference `values - baseline`."""
    if len(values) != len(baseline):
        raise ValueError("paired_test needs one baseline value per value")
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    return {"mean_difference": _rounded(np.mean(differences)), "p_value": sign_flip_p(differences)}


def equivalence_test(values, baseline, margin):
    """Two one-sided tests (TOST) that the mean paired difference lies within ± margin: sign-flip
    tests that it is above -margin and below +margin; p is the larger of the two. p < alpha:
    the two are equivalent within the margin."""
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    above = sign_flip_p(differences + margin, "greater")
    below = sign_flip_p(differences - margin, "less")
    return max(above, below)


def minimum_detectable_difference(differences, alpha=ALPHA, power=POWER):
    """The smallest true mean difference that a two-sided paired test at `alpha` finds with
    probability `power`, given the observed spread of the paired differences: the paired
    t-test's power (noncentral t), which the sign-flip test approaches. None when no difference
    is detectable: the sign-flip test's smallest p, 2 / 2^pairs, is above alpha (fewer than 6
    pairs at 0.05); 0 when every pair differs by the same amount."""
    differences = np.asarray(differences, dtype=float)
    pairs = len(differences)
    if 2.0 ** (1 - pairs) > alpha:
        return None
    if np.ptp(differences) == 0:
        return 0.0
    spread = float(np.std(differences, ddof=1))
    freedom, critical = pairs - 1, stats.t.ppf(1 - alpha / 2, pairs - 1)

    def shortfall(shift):
        # The far tail as sf at -shift, not cdf at -critical: SciPy 1.17's nct.cdf returns NaN
        # for some arguments (df 9, -3.2498, 8.0) where sf does not.
        found = stats.nct.sf(critical, freedom, shift) + stats.nct.sf(critical, freedom, -shift)
        return found - power

    enough = 1.0
    while shortfall(enough) < 0:
        enough *= 2
    shift = optimize.brentq(shortfall, 0.0, enough)
    return _rounded(shift * spread / math.sqrt(pairs))


def adjust_p_values(p_values):
    """Benjamini-Hochberg adjusted p-values (false discovery rate) of several comparisons."""
    if not p_values:
        return []
    return [_rounded(p) for p in stats.false_discovery_control(p_values)]


def compare_with_baseline(results, baseline, margin=None):
    """{variant: paired test against `baseline`} from {variant: per-seed values}, each with its
    paired differences, its Benjamini-Hochberg adjusted p-value over all the variants compared,
    the difference it would detect with 80 % power at alpha and at alpha over the number of
    comparisons (BH's threshold when a single variant differs) and, given a `margin`, the
    equivalence test's p (raw and adjusted)."""
    others = [name for name in results if name != baseline]
    tests = {name: paired_test(results[name], results[baseline]) for name in others}
    for name in others:
        differences = np.subtract(results[name], results[baseline])
        tests[name]["differences"] = differences.tolist()
        tests[name]["detectable"] = minimum_detectable_difference(differences)
        tests[name]["detectable_adjusted"] = minimum_detectable_difference(
            differences, ALPHA / len(others)
        )
        if margin is not None:
            tests[name]["p_equivalence"] = equivalence_test(
                results[name], results[baseline], margin
            )
    adjusted = {"p_value": "p_adjusted"}
    if margin is not None:
        adjusted["p_equivalence"] = "p_equivalence_adjusted"
    for raw, key in adjusted.items():
        for name, p_value in zip(
            others, adjust_p_values([tests[name][raw] for name in others]), strict=True
        ):
            tests[name][key] = p_value
    return tests


def outcome(test, lower_is_better=False):
    """better | worse | equivalent | inconclusive, of a comparison's adjusted p-values: a
    significant difference first, else equivalence within the margin, else no answer."""
    if test["p_adjusted"] < ALPHA:
        gain = -test["mean_difference"] if lower_is_better else test["mean_difference"]
        return "better" if gain > 0 else "worse"
    if test.get("p_equivalence_adjusted", 1.0) < ALPHA:
        return "equivalent"
    return "inconclusive"


def mcnemar_exact(before_correct, after_correct):
    """McNemar's exact test on paired per-image outcomes of a model before and after a change:
    of the images exactly one of the two gets right, is the split a fair coin's?"""
    before_correct = np.asarray(before_correct, dtype=bool)
    after_correct = np.asarray(after_correct, dtype=bool)
    only_before = int(np.sum(before_correct & ~after_correct))
    only_after = int(np.sum(~before_correct & after_correct))
    discordant = only_before + only_after
    p_value = 1.0 if discordant == 0 else stats.binomtest(only_after, discordant, 0.5).pvalue
    return {
        "only_before_correct": only_before,
        "only_after_correct": only_after,
        "p_value": _rounded(p_value),
    }
