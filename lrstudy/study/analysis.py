"""A grid of heads analysed on its folds: every variant's cross-validated test accuracy, each
compared with the baseline over test images and seeds (lrstudy/inference.py), its epochs to a
target and its final validation loss compared over seeds; the ranking, the design's power, the
variant to fine-tune and the table.

The target of convergence is fixed before any variant is looked at: the baseline's mean final
validation accuracy minus the margin. A run's epochs to it count from 1; a run that never gets
there is censored at the last epoch, so the mean is a restricted mean (a lower bound where some
did not get there) and the table says how many did.
"""

import math

import numpy as np
from scipy import stats

from lrstudy import inference
from lrstudy.reporting.measures import Measure, interval, percent
from lrstudy.reporting.verdicts import NO_DIFFERENCE, within
from lrstudy.statistics import ALPHA, POWER
from lrstudy.study import folds

ACCURACY = "test_accuracy"
MEASURES = {
    ACCURACY: Measure(
        "test accuracy over the folds", "test accuracy", False, "better", "worse", "points", 100, 2
    ),
    "epochs_to_target": Measure(
        "epochs to {target}", "epochs to {target}", True, "sooner", "later", "epochs", 1, 1
    ),
    "final_val_loss": Measure(
        "final validation loss", "final val loss", True, "lower", "higher", "", 1, 4
    ),
}


def epochs_to(accuracy, target):
    """(epochs, reached) of (folds, seeds, epochs) validation curves: the first epoch, counted
    from 1, at or above `target`, else the last epoch (censored); and whether it got there."""
    reached = accuracy >= target
    first = np.where(reached.any(axis=-1), reached.argmax(axis=-1) + 1, accuracy.shape[-1])
    return first.astype(float), reached.any(axis=-1)


def interval_of(outcome_array):
    """A variant's accuracy over images and seeds: mean, the seeds' standard deviation and the
    95 % interval (two_way)."""
    per_seed = outcome_array.mean(axis=1)
    mean, error, freedom = inference.two_way(outcome_array)
    half = stats.t.ppf(0.975, freedom) * error
    return {
        "mean": inference.rounded(mean),
        "std": inference.rounded(np.std(per_seed, ddof=1)),
        "ci95_low": inference.rounded(mean - half),
        "ci95_high": inference.rounded(mean + half),
    }


def summarize(values):
    """Mean and standard deviation over every run of a per-run measure (folds, seeds)."""
    values = np.asarray(values, dtype=float).ravel()
    return {
        "mean": inference.rounded(values.mean()),
        "std": inference.rounded(np.std(values, ddof=1)),
    }


def target_of(shape, baseline_runs, margin):
    """The target of convergence: the baseline's mean final validation accuracy minus the
    margin."""
    return float(folds.val_accuracy(shape, baseline_runs)[..., -1].mean() - margin)


def measured(shape, runs, target):
    """A variant's per-run measures {measure: (folds, seeds)} and its outcomes (seeds, images)
    (None where a head diverged)."""
    epochs, reached = epochs_to(folds.val_accuracy(shape, runs), target)
    return {
        ACCURACY: folds.outcomes(shape, runs),
        "epochs_to_target": epochs,
        "reached": reached,
        "final_val_loss": folds.final_val_loss(shape, runs),
    }


def analyse(shape, runs, settings, baseline):
    """(summaries, tests, design) of a grid's runs ({variant: its fold runs}): per variant its
    test accuracy, epochs to the target and final loss; per measure every variant that did not
    diverge compared with the `baseline` (Benjamini-Hochberg over the variants); the design:
    the target and, from the baseline alone, the noise of a comparison (inference.power)."""
    margin = settings.margin_fraction
    target = target_of(shape, runs[baseline], margin) if baseline in runs else None
    values = {
        name: measured(shape, found, target if target is not None else 1.0)
        for name, found in runs.items()
    }
    summaries = {}
    for name, found in values.items():
        gone = folds.diverged(runs[name])
        summaries[name] = {
            ACCURACY: interval_of(found[ACCURACY]) if not gone else {"mean": math.nan},
            "epochs_to_target": {
                **summarize(found["epochs_to_target"]),
                "reached": int(found["reached"].sum()),
                "runs": int(found["reached"].size),
            },
            "final_val_loss": summarize(found["final_val_loss"]),
            "diverged": gone,
        }
    tests, design = {}, {"target": target}
    if target is not None:
        others = [n for n in runs if n != baseline and not summaries[n]["diverged"]]
        base = values[baseline]
        tests[ACCURACY] = inference.adjust(
            {
                n: inference.compare_images(
                    values[n][ACCURACY].astype(float) - base[ACCURACY], margin
                )
                for n in others
            }
        )
        for key in ("epochs_to_target", "final_val_loss"):
            tests[key] = inference.adjust(
                {n: inference.compare_runs(values[n][key] - base[key]) for n in others}
            )
        design["noise"] = inference.design_noise(base[ACCURACY])
        design["runs_noise"] = {
            key: inference.design_runs(base[key]) for key in ("epochs_to_target", "final_val_loss")
        }
        design["comparisons"] = len(others)
    return summaries, tests, design


def rank(summaries):
    """Variant names, best first: highest test accuracy, ties to the lower mean final val
    loss; variants that diverged last."""
    return sorted(
        summaries,
        key=lambda name: (
            summaries[name]["diverged"],
            -summaries[name][ACCURACY]["mean"],
            summaries[name]["final_val_loss"]["mean"],
        ),
    )


def fine_tuning_choice(ranking, tests, baseline):
    """(the variant to fine-tune, why): the best of those better than the `baseline` by more
    than the margin; with none, the baseline itself, since no schedule of the grid beat it;
    without a baseline, the highest mean."""
    accuracy = tests.get(ACCURACY, {})
    better = [n for n in ranking if n in accuracy and inference.outcome(accuracy[n]) == "better"]
    if better:
        return better[0], (
            f"{better[0]} is fine-tuned: the highest test accuracy of the {len(better)} variants "
            f"better than {baseline} by more than the margin."
        )
    if baseline in ranking:
        return baseline, (
            f"{baseline} is fine-tuned: no variant is better than it by more than the margin, "
            f"so the simplest policy, a fixed rate, is kept rather than the highest of means "
            f"that differ by less ({ranking[0]})."
        )
    return ranking[0], f"{ranking[0]} is fine-tuned: the highest mean (no {baseline} to test)."


def points(value):
    return f"{100 * value:+.2f}"


def compared(test):
    """'+0.25 [-0.31, +0.80]': a difference in points and its 90 % interval."""
    low, high = test["interval"]
    return f"{points(test['difference'])} [{points(low)}, {points(high)}]"


def secondary(key, summary, test):
    """A per-run measure's cell: '3.1 ± 0.6 (-0.8, p 0.04)', the difference and BH p beside;
    the epochs also say how many runs reached the target."""
    measure = MEASURES[key]
    text = measure.text(summary)
    if key == "epochs_to_target" and summary["reached"] < summary["runs"]:
        text += f", {summary['reached']} of {summary['runs']} reached it"
    if test is None:
        return text
    return (
        f"{text} ({measure.difference(test['difference']).split()[0]}, p {test['p_adjusted']:.3g})"
    )


def target_label(design):
    return f"{percent(design['target'])}" if design.get("target") is not None else "the target"


def study_rows(summaries, tests, design, shape, baseline):
    """The study table, best first: each variant's test accuracy over the folds with its 95 %
    interval, its comparison with the `baseline` (blank on the baseline's own row), and its
    epochs to the target and final loss."""
    labels = {"target": target_label(design)}
    runs = f"{len(shape['images']['test'])} x {folds.seeds_of(shape)}"
    rows = []
    for name in rank(summaries):
        summary = summaries[name]
        test = tests.get(ACCURACY, {}).get(name)
        row = {
            "variant": name,
            "folds x seeds": runs,
            "test accuracy": "diverged"
            if summary["diverged"]
            else percent(summary[ACCURACY]["mean"]),
            "its 95 % interval": "" if summary["diverged"] else interval(summary[ACCURACY]),
            f"vs {baseline} (points, 90 % interval)": compared(test) if test else "",
            "p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
            "outcome": "diverged"
            if summary["diverged"]
            else inference.outcome(test)
            if test
            else "",
        }
        for key in ("epochs_to_target", "final_val_loss"):
            column = MEASURES[key].column.format(**labels)
            row[column] = secondary(key, summary[key], tests.get(key, {}).get(name))
        rows.append(row)
    return rows


def design_sentence(design, margin):
    """What the design could find, computed before looking at any variant."""
    noise, count = design["noise"], max(design["comparisons"], 1)
    alone, corrected = inference.detectable(noise), inference.detectable(noise, ALPHA / count)
    found = "none" if alone is None else f"{100 * alone:.2f} points"
    at_bh = "none" if corrected is None else f"{100 * corrected:.2f} points"
    return (
        f"Before looking at any variant, from the baseline alone: a true difference of {found} "
        f"is found {100 * POWER:.0f} % of the time at {ALPHA}, {at_bh} at {ALPHA}/{count} "
        "(Benjamini-Hochberg's threshold when one variant differs); the margin, "
        f"{within(margin)}, is "
        + ("resolvable." if corrected is not None and corrected < margin else "not resolvable.")
    )


def table_notes(design, shape, margin, baseline):
    """What the study table's columns mean, for the paragraph under it."""
    images = sum(shape["images"]["test"])
    return (
        f"Every variant trained on each of {len(shape['images']['test'])} folds with "
        f"{folds.seeds_of(shape)} seeds, each image of the data tested once ({images} images): "
        "test accuracy is the mean over images and seeds, its interval from both "
        "(lrstudy/inference.py: a two-way random-effects variance, Owen 2007). Against "
        f"{baseline}, paired by image and seed: the difference in points with its 90 % "
        "interval; p (BH) against no difference after Benjamini-Hochberg over the grid; "
        f"outcome, in this order: better or worse by more than {within(margin)} (one-sided "
        f"tests at {ALPHA}, BH), else equivalent within it (two one-sided tests, BH), else not "
        f"resolved. Epochs to {target_label(design)}, {baseline}'s mean final validation "
        f"accuracy minus {within(margin).removeprefix('±')}, count from 1, a run that never "
        "gets there censored "
        "at the last epoch (a restricted mean); those and the final validation loss are "
        "compared over seeds (paired t-test of each seed's mean over the folds, BH), the mean "
        "paired difference and its p in brackets. " + design_sentence(design, margin)
    )


def outcome_count(tests, baseline, margin):
    """How many variants are better, worse, equivalent within the margin, or not resolved."""
    groups = {answer: [] for answer in inference.OUTCOMES}
    for name in sorted(tests):
        groups[inference.outcome(tests[name])].append(name)
    counts = [
        f"{len(groups['better'])} better by more than {within(margin)} "
        f"({', '.join(groups['better']) or 'none'})",
        f"{len(groups['worse'])} worse by more than it ({', '.join(groups['worse']) or 'none'})",
        f"{len(groups['equivalent'])} equivalent within it "
        f"({', '.join(groups['equivalent']) or 'none'})",
        f"{len(groups['not resolved'])} not resolved",
    ]
    return (
        f"Of the {len(tests)} comparisons with {baseline}, after Benjamini-Hochberg at {ALPHA}: "
        f"{', '.join(counts[:3])} and {counts[3]}."
    )


def best_sentence(best, baseline, summaries, tests):
    """The best variant against the baseline, in one sentence per measure."""
    if baseline not in summaries:
        return f"The grid has no {baseline}, the baseline: no test against it."
    accuracy = MEASURES[ACCURACY]
    if best == baseline:
        return (
            f"{baseline}, the baseline, has the highest test accuracy of the grid "
            f"({percent(summaries[baseline][ACCURACY]['mean'])}): no schedule of this grid "
            "does better."
        )
    test = tests[ACCURACY][best]
    low, high = test["interval"]
    sentences = [
        f"The best variant, {best}, against {baseline}: test accuracy "
        f"{percent(summaries[best][ACCURACY]['mean'])} against "
        f"{percent(summaries[baseline][ACCURACY]['mean'])}, "
        f"{accuracy.difference(test['difference'])} (90 % interval {points(low)} to "
        f"{points(high)}, p (BH) {test['p_adjusted']:.3g}): {inference.outcome(test)}."
    ]
    for key in ("epochs_to_target", "final_val_loss"):
        measure, found = MEASURES[key], tests[key][best]
        word = {"better": measure.gain, "worse": measure.loss}.get(
            inference.direction(found, lower_is_better=measure.lower_is_better), NO_DIFFERENCE
        )
        sentences.append(
            f"{measure.label.format(target='the target').capitalize()}: "
            f"{measure.difference(found['difference'])} (p (BH) {found['p_adjusted']:.3g}): {word}."
        )
    return " ".join(sentences)
