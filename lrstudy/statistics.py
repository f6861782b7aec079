"""Statistics of a study repeated over seeds: summaries with intervals, a paired test against a
baseline, Benjamini-Hochberg over several comparisons and McNemar's exact test. Pure functions
of numbers; the sentences that state their outcome are lrstudy/reporting/verdicts.py's.

Runs with the same seed share their initial weights and batch order, so two schedules trained on
seeds 42..51 form pairs: the test looks at the ten paired differences, not at two clouds of runs.
"""

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05
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
    """Final and best validation accuracy and loss of each seed's run, from per-epoch histories
    ({"val_accuracy": [[epochs of seed 1], ...], "val_loss": [...]})."""
    accuracy = np.asarray(history["val_accuracy"], dtype=float)
    loss = np.asarray(history["val_loss"], dtype=float)
    return {
        "final_val_accuracy": accuracy[:, -1].tolist(),
        "best_val_accuracy": accuracy.max(axis=1).tolist(),
        "final_val_loss": loss[:, -1].tolist(),
        "best_val_loss": loss.min(axis=1).tolist(),
    }


def curve_band(runs):
    """Per-epoch mean and sample standard deviation (0 for a single run) of equal-length runs."""
    runs = np.asarray(runs, dtype=float)
    std = runs.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(runs.shape[1])
    return runs.mean(axis=0).tolist(), std.tolist()


def paired_test(values, baseline):
    """Two-sided sign-flip permutation test of the mean paired difference `values - baseline`:
    under "no difference" each pair's sign is a coin flip. Exact (all 2^n sign patterns) for up
    to 13 pairs; free of any normality assumption, which accuracies counted in whole images do
    not meet. Identical pairs, or a single pair, give p = 1: no evidence of a difference."""
    if len(values) != len(baseline):
        raise ValueError("paired_test needs one baseline value per value")
    differences = np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float)
    mean = float(np.mean(differences))
    if len(differences) < 2 or not differences.any():
        return {"mean_difference": _rounded(mean), "p_value": 1.0}
    result = stats.permutation_test(
        (differences,),
        np.mean,
        permutation_type="samples",
        vectorized=True,
        n_resamples=9999,
        alternative="two-sided",
        rng=0,
    )
    return {"mean_difference": _rounded(mean), "p_value": _rounded(min(1.0, result.pvalue))}


def adjust_p_values(p_values):
    """Benjamini-Hochberg adjusted p-values (false discovery rate) of several comparisons."""
    if not p_values:
        return []
    return [_rounded(p) for p in stats.false_discovery_control(p_values)]


def compare_with_baseline(results, baseline):
    """{variant: paired test against `baseline`, with its Benjamini-Hochberg adjusted p-value
    over all the variants compared} from {variant: per-seed values}."""
    others = [name for name in results if name != baseline]
    tests = {name: paired_test(results[name], results[baseline]) for name in others}
    adjusted = adjust_p_values([tests[name]["p_value"] for name in others])
    for name, p_value in zip(others, adjusted, strict=True):
        tests[name]["p_adjusted"] = p_value
    return tests


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
