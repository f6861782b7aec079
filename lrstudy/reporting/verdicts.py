"""The sentences that state what the statistics found, for the report's table and the study's.

Apart from lrstudy/statistics.py, so that rewording one reruns only the stage `report`.
"""

from lrstudy.reporting.formatting import mean_std
from lrstudy.statistics import ALPHA


def significance(p_value):
    if p_value < ALPHA:
        return f"significant at {ALPHA}"
    return f"not significant at {ALPHA}"


def comparison_verdict(
    name, summary, baseline_name, baseline_summary, test, seeds, adjusted=None, comparisons=1
):
    """One sentence: is `name` better than the baseline, by the paired test over seeds."""
    points = 100 * test["mean_difference"]
    sentence = (
        f"{name} against {baseline_name}, paired over {seeds} seeds: final validation accuracy "
        f"{mean_std(summary)} against {mean_std(baseline_summary)}, a difference of "
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
        f"this data does not show {name} to be better than {baseline_name}."
    )


def mcnemar_verdict(test):
    """One sentence on whether fine-tuning changed the per-image test predictions: `test` is
    mcnemar_exact's result with the number of `test_images`."""
    sentence = (
        f"Fine-tuned model against the head it started from, on the {test['test_images']} "
        "test images: "
        f"{test['only_after_correct']} right only after fine-tuning, "
        f"{test['only_before_correct']} right only before; McNemar's exact test "
        f"p = {test['p_value']:.3g}"
    )
    if test["p_value"] < ALPHA:
        better = test["only_after_correct"] > test["only_before_correct"]
        return (
            sentence
            + f": {significance(test['p_value'])}, fine-tuning made it "
            + ("better." if better else "worse.")
        )
    return sentence + f": {significance(test['p_value'])}, no change shown."


def best_variant_verdict(best, baseline, summaries, tests, seeds):
    """The sentence on a study's best variant against its baseline, from the paired tests."""
    if baseline not in summaries:
        return f"The grid has no {baseline}, the baseline: no test against it."
    if best == baseline:
        return (
            f"{baseline}, the baseline, has the highest mean final validation accuracy of the "
            f"grid ({mean_std(summaries[baseline]['final_val_accuracy'])} over {seeds} seeds): "
            "no schedule of this grid does better."
        )
    return comparison_verdict(
        best,
        summaries[best]["final_val_accuracy"],
        baseline,
        summaries[baseline]["final_val_accuracy"],
        tests[best],
        seeds,
        adjusted=tests[best]["p_adjusted"],
        comparisons=len(tests),
    )


def significance_count(tests, baseline):
    """How many variants the adjusted tests call better and worse than the baseline."""
    better = sorted(
        name
        for name, test in tests.items()
        if test["p_adjusted"] < ALPHA and test["mean_difference"] > 0
    )
    worse = sorted(
        name
        for name, test in tests.items()
        if test["p_adjusted"] < ALPHA and test["mean_difference"] < 0
    )
    return (
        f"After Benjamini-Hochberg over the {len(tests)} comparisons with {baseline}, "
        f"{len(better)} variants are significantly better ({', '.join(better) or 'none'}) and "
        f"{len(worse)} significantly worse ({', '.join(worse) or 'none'}) at {ALPHA}."
    )
