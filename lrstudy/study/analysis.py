"""A finished grid's numbers: every variant's per-seed measures and their summaries, the paired
tests against the baseline, the ranking, the variant to fine-tune and the study table."""

import math

import numpy as np

from lrstudy.reporting.measures import ACCURACY, MEASURES, interval
from lrstudy.reporting.verdicts import within
from lrstudy.statistics import (
    ALPHA,
    compare_with_baseline,
    epochs_to_reach,
    outcome,
    per_seed_results,
    summarize,
)


def per_seed_measures(histories, convergence, baseline):
    """{variant: {measure: one value per seed}}: final accuracy and loss, and the epochs to
    `convergence` of the run's own final accuracy and of the `baseline`'s mean final
    accuracy."""
    results = {name: per_seed_results(history) for name, history in histories.items()}
    target = None
    if baseline in results:
        target = convergence * float(np.mean(results[baseline][ACCURACY]))
    for name, history in histories.items():
        accuracy = np.asarray(history["val_accuracy"], dtype=float)
        results[name]["epochs_to_converge"] = epochs_to_reach(
            accuracy, convergence * accuracy[:, -1]
        )
        if target is not None:
            results[name]["epochs_to_baseline"] = epochs_to_reach(accuracy, target)
    return results


def test_measures(results, margin, baseline):
    """{measure: {variant: paired test against the `baseline`}} of every measure the variants
    share with it, Benjamini-Hochberg over the variants; accuracy also tested for equivalence
    within ± margin. Empty without the baseline."""
    if baseline not in results:
        return {}
    return {
        key: compare_with_baseline(
            {name: result[key] for name, result in results.items()},
            baseline,
            margin if key == ACCURACY else None,
        )
        for key in MEASURES
    }


def diverged(summary):
    """Whether a variant diverged: a seed's final loss is no number (null in its repeats.json)."""
    return not math.isfinite(summary["final_val_loss"]["mean"])


def analyse(histories, settings, baseline):
    """(summaries, tests) of the variants' histories: per variant and measure the summary over
    seeds, and per measure the paired tests against the `baseline` of every variant that did
    not diverge (a diverged run's numbers measure nothing)."""
    results = per_seed_measures(histories, settings.convergence, baseline)
    summaries = {
        name: {key: summarize(values) for key, values in result.items()}
        for name, result in results.items()
    }
    tested = {name: result for name, result in results.items() if not diverged(summaries[name])}
    return summaries, test_measures(tested, settings.margin_fraction, baseline)


def rank(summaries):
    """Variant names, best first: highest mean final val accuracy, ties to the lower mean final
    val loss; variants that diverged last."""
    return sorted(
        summaries,
        key=lambda name: (
            diverged(summaries[name]),
            -summaries[name][ACCURACY]["mean"],
            summaries[name]["final_val_loss"]["mean"],
        ),
    )


def fine_tuning_choice(ranking, tests, baseline):
    """(the variant to fine-tune, why): the best of those significantly better than the
    `baseline`; with none, the baseline itself, since no schedule of the grid beat it; without
    a baseline, the highest mean."""
    accuracy = tests.get(ACCURACY, {})
    better = [name for name in ranking if name in accuracy and outcome(accuracy[name]) == "better"]
    if better:
        return better[0], (
            f"{better[0]} is fine-tuned: the highest mean of the {len(better)} variants "
            f"significantly better than {baseline}."
        )
    if baseline in ranking:
        return baseline, (
            f"{baseline} is fine-tuned: no variant is significantly better than it, so the "
            f"simplest policy, a fixed rate, is kept rather than the highest of means that "
            f"differ by noise ({ranking[0]})."
        )
    return ranking[0], f"{ranking[0]} is fine-tuned: the highest mean (no {baseline} to test)."


def secondary(key, summary, test):
    """A secondary measure's cell: '3.1 ± 0.6 (-0.8, p 0.04)', the difference and BH p beside."""
    measure = MEASURES[key]
    if test is None:
        return measure.text(summary)
    difference = measure.difference(test["mean_difference"]).split()[0]
    return f"{measure.text(summary)} ({difference}, p {test['p_adjusted']:.3g})"


def study_rows(summaries, tests, repeats, settings, baseline):
    """The study table, best first: each variant's mean ± std over seeds, and its paired tests
    against the `baseline` (blank on the baseline's own row)."""
    labels = {"fraction": f"{100 * settings.convergence:g} %", "baseline": baseline}
    rows = []
    for name in rank(summaries):
        summary = summaries[name]
        test = tests.get(ACCURACY, {}).get(name)
        detectable = test and test["detectable"]
        row = {
            "variant": name,
            "seeds": repeats[name],
            "final val accuracy": MEASURES[ACCURACY].text(summary[ACCURACY]),
            "its 95 % interval": interval(summary[ACCURACY]),
            f"vs {baseline} (points)": f"{100 * test['mean_difference']:+.2f}" if test else "",
            "p": f"{test['p_value']:.3g}" if test else "",
            "p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
            "detectable (points)": f"{100 * detectable:.2f}" if detectable is not None else "",
            f"within {within(settings.margin_fraction)}: p (BH)": (
                f"{test['p_equivalence_adjusted']:.3g}" if test else ""
            ),
            "outcome": "diverged" if diverged(summary) else outcome(test) if test else "",
        }
        for key in MEASURES:
            if key != ACCURACY and key in summary:
                column = MEASURES[key].column.format(**labels)
                row[column] = secondary(key, summary[key], tests.get(key, {}).get(name))
        if diverged(summary):
            row[MEASURES["final_val_loss"].column] = "diverged"
        rows.append(row)
    return rows


def table_notes(settings, baseline):
    """What the study table's columns mean, for the paragraph under it."""
    return (
        f"Paired over seeds against {baseline}: p of the sign-flip permutation test, p (BH) "
        "after Benjamini-Hochberg over the grid; detectable: the true difference found with "
        f"80 % power at {ALPHA} (Benjamini-Hochberg needs more: the verdict below gives both); "
        f"within {within(settings.margin_fraction)}: the two one-sided tests of equivalence; "
        f"outcome: better or worse (p (BH) < {ALPHA}), else equivalent, else inconclusive. "
        "Epochs count from 1 (a run that never gets there counts as one past the last); the "
        "epochs and loss columns give the mean paired difference and its p (BH) in brackets."
    )
