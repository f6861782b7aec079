"""Statistics of a study repeated over seeds: summaries with intervals, a paired test against the
reference, Benjamini-Hochberg over several comparisons, McNemar's exact test, and the verdict
sentences the report and the study print from them.

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


def paired_test(values, reference):
    """Two-sided sign-flip permutation test of the mean paired difference `values - reference`:
    under "no difference" each pair's sign is a coin flip. Exact (all 2^n sign patterns) for up
    to 13 pairs; free of any normality assumption, which accuracies counted in whole images do
    not meet. Identical pairs, or a single pair, give p = 1: no evidence of a difference."""
    if len(values) != len(reference):
        raise ValueError("paired_test needs one reference value per value")
    differences = np.asarray(values, dtype=float) - np.asarray(reference, dtype=float)
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


def compare_with_reference(results, reference):
    """{variant: paired test against `reference`, with its Benjamini-Hochberg adjusted p-value
    over all the variants compared} from {variant: per-seed values}."""
    others = [name for name in results if name != reference]
    tests = {name: paired_test(results[name], results[reference]) for name in others}
    adjusted = adjust_p_values([tests[name]["p_value"] for name in others])
    for name, p_value in zip(others, adjusted, strict=True):
        tests[name]["p_adjusted"] = p_value
    return tests


def mcnemar_exact(reference_correct, other_correct):
    """McNemar's exact test on paired per-image outcomes: of the images exactly one model gets
    right, is the split between the two a fair coin's?"""
    reference_correct = np.asarray(reference_correct, dtype=bool)
    other_correct = np.asarray(other_correct, dtype=bool)
    only_reference = int(np.sum(reference_correct & ~other_correct))
    only_other = int(np.sum(~reference_correct & other_correct))
    discordant = only_reference + only_other
    p_value = 1.0 if discordant == 0 else stats.binomtest(only_other, discordant, 0.5).pvalue
    return {
        "only_reference_correct": only_reference,
        "only_other_correct": only_other,
        "p_value": _rounded(p_value),
    }


def percent(value):
    return f"{100 * value:.2f} %"


def mean_std(summary):
    """'95.47 ± 0.21 %' of a summary (without ± for a single run)."""
    if summary["std"] is None:
        return percent(summary["mean"])
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} %"


def interval(summary):
    """'[95.12, 95.99]' of a summary's 95 % interval, in percent ('' for a single run)."""
    if summary["ci95_low"] is None:
        return ""
    return f"[{100 * summary['ci95_low']:.2f}, {100 * summary['ci95_high']:.2f}]"


def loss_mean_std(summary):
    if summary["std"] is None:
        return f"{summary['mean']:.4f}"
    return f"{summary['mean']:.4f} ± {summary['std']:.4f}"


def significance(p_value):
    if p_value < ALPHA:
        return f"significant at {ALPHA}"
    return f"not significant at {ALPHA}"


def comparison_verdict(
    name, summary, reference_name, reference_summary, test, seeds, adjusted=None, comparisons=1
):
    """One sentence: is `name` better than the reference, by the paired test over seeds."""
    points = 100 * test["mean_difference"]
    sentence = (
        f"{name} against {reference_name}, paired over {seeds} seeds: final validation accuracy "
        f"{mean_std(summary)} against {mean_std(reference_summary)}, a difference of "
        f"{points:+.2f} points, p = {test['p_value']:.3g} (sign-flip permutation test)"
    )
    p_value = test["p_value"]
    if adjusted is not None and comparisons > 1:
        sentence += f", {adjusted:.3g} after Benjamini-Hochberg over {comparisons} comparisons"
        p_value = adjusted
    if seeds < 2:
        return sentence + ". With one seed there is no spread to test against: no verdict."
    if p_value < ALPHA and points > 0:
        return sentence + f": {significance(p_value)}, {name} is better."
    if p_value < ALPHA:
        return sentence + f": {significance(p_value)}, {name} is worse."
    return (
        sentence + f": {significance(p_value)}. The difference is within the noise of the seeds; "
        f"this data does not show {name} to be better than {reference_name}."
    )


def mcnemar_verdict(test):
    """One sentence on whether fine-tuning changed the per-image test predictions: `test` is
    mcnemar_exact's result with the number of `test_images`."""
    sentence = (
        f"Fine-tuned model against the head it started from, on the {test['test_images']} "
        "test images: "
        f"{test['only_other_correct']} right only after fine-tuning, "
        f"{test['only_reference_correct']} right only before; McNemar's exact test "
        f"p = {test['p_value']:.3g}"
    )
    if test["p_value"] < ALPHA:
        better = test["only_other_correct"] > test["only_reference_correct"]
        return (
            sentence
            + f": {significance(test['p_value'])}, fine-tuning made it "
            + ("better." if better else "worse.")
        )
    return sentence + f": {significance(test['p_value'])}, no change shown."
