"""The report's words for what a test found (better, worse, equivalent within the margin,
inconclusive) and its sentences; those the study shares: McNemar's test of fine-tuning, "no
difference shown", the margin and p in words. The study's own outcomes and paragraphs live in
lrstudy/inference.py and with the code that builds each of its tables.

Apart from lrstudy/statistics.py, so that rewording one reruns only the stages that report.
"""

from lrstudy.reporting.measures import VAL_ACCURACY
from lrstudy.statistics import ALPHA, POWER, outcome

NO_DIFFERENCE = "no difference shown"  # a test that found no difference, whichever test


def significance(p_value):
    if p_value < ALPHA:
        return f"significant at {ALPHA}"
    return f"not significant at {ALPHA}"


def p_text(p_value):
    """'p = 0.0123', or 'p < 0.001' for one so small its digits mean nothing."""
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3g}"


def within(margin):
    points = f"{100 * margin:g}"
    return f"±{points} point" + ("" if points == "1" else "s")


def power_sentence(measure, test, seeds, comparisons):
    """What the comparison could have found: the difference it detects with 80 % power, at
    alpha and, over several comparisons, at Benjamini-Hochberg's threshold for a single one."""
    if test["detectable"] is None:
        return (
            f" With {seeds} seeds no difference can reach {ALPHA}: the sign-flip test's "
            f"smallest p is {2 / 2**seeds:.3g}."
        )
    sentence = (
        f" Its power: a true difference of {measure.size(test['detectable'])} would be found "
        f"{100 * POWER:.0f} % of the time at {ALPHA}"
    )
    if comparisons == 1:
        return sentence + "."
    if test["detectable_adjusted"] is None:
        return sentence + f", none at {ALPHA}/{comparisons} with {seeds} seeds."
    return (
        sentence + f", {measure.size(test['detectable_adjusted'])} at {ALPHA}/{comparisons} "
        "(Benjamini-Hochberg's threshold when only one variant differs)."
    )


def comparison_verdict(name, summary, baseline, baseline_summary, test, seeds, margin, comparisons):
    """Is `name`'s final validation accuracy better than, worse than, equivalent to (within
    ± margin) the baseline's, or is the answer inconclusive; and what the test could find."""
    measure = VAL_ACCURACY
    sentence = (
        f"{name} against {baseline}, paired over {seeds} seeds: final validation accuracy "
        f"{measure.text(summary)} against {measure.text(baseline_summary)}, a difference of "
        f"{measure.difference(test['mean_difference'])}, p = {test['p_value']:.3g} "
        "(sign-flip permutation test)"
    )
    if comparisons > 1:
        sentence += (
            f", {test['p_adjusted']:.3g} after Benjamini-Hochberg over {comparisons} comparisons"
        )
    if seeds < 2:
        return sentence + ". With one seed there is no spread to test against: no verdict."
    answer = outcome(test)
    equivalence = f"{test['p_equivalence_adjusted']:.3g}"
    if answer in ("better", "worse"):
        sentence += f": {significance(test['p_adjusted'])}, {name} is {answer}."
    elif answer == "equivalent":
        sentence += (
            f": {significance(test['p_adjusted'])}, and two one-sided tests put it within "
            f"{within(margin)} (p = {equivalence}): {name} is equivalent to {baseline}."
        )
    else:
        sentence += (
            f": {significance(test['p_adjusted'])}, nor shown within {within(margin)} (two "
            f"one-sided tests, p = {equivalence}): inconclusive; this data shows {name} neither "
            f"better than, worse than, nor equivalent to {baseline}."
        )
    return sentence + power_sentence(measure, test, seeds, comparisons)


def mcnemar_outcome(test, p_value):
    """better, worse or no difference shown, by McNemar's test (`test`: mcnemar_exact's counts)
    at `p_value`, its own or one adjusted over several comparisons."""
    if p_value >= ALPHA:
        return NO_DIFFERENCE
    return "better" if test["only_after_correct"] > test["only_before_correct"] else "worse"


def mcnemar_verdict(test):
    """One sentence on whether fine-tuning changed the per-image test predictions: `test` is
    mcnemar_exact's result with the number of `test_images`."""
    sentence = (
        f"Fine-tuned model against the head it started from, on the {test['test_images']} "
        "test images: "
        f"{test['only_after_correct']} right only after fine-tuning, "
        f"{test['only_before_correct']} right only before; McNemar's exact test "
        f"p = {test['p_value']:.3g}: {significance(test['p_value'])}, "
    )
    found = mcnemar_outcome(test, test["p_value"])
    return sentence + (f"{found}." if found == NO_DIFFERENCE else f"fine-tuning made it {found}.")
