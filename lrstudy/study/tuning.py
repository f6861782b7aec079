"""Schedules compared at their best: each family's trials (sampling.py, the same budget for
every family) ranked on validation, the winners judged on the test split, which no choice saw,
and what it costs to tune each family."""

import math

import numpy as np

from lrstudy.core.optimizers import DEFAULT as DEFAULT_OPTIMIZER
from lrstudy.core.outputs import markdown_table
from lrstudy.reporting.measures import ACCURACY, interval, mean_std
from lrstudy.reporting.verdicts import within
from lrstudy.statistics import ALPHA, compare_with_baseline, outcome, summarize
from lrstudy.study.analysis import rank
from lrstudy.study.grid import BASELINE


def select_winners(summaries, trials):
    """({family: its best trial}, the best of those), both on validation: the highest mean final
    validation accuracy over seeds (ties: the lower mean loss; diverged trials last), among
    `trials` ({family: [variant names]})."""
    winners = {
        family: rank({name: summaries[name] for name in names})[0]
        for family, names in trials.items()
        if names
    }
    return winners, rank({winner: summaries[winner] for winner in winners.values()})[0]


def tuning_cost(summaries, names, margin):
    """The expected number of random trials to land within half a margin of the family's best
    validation accuracy: its trials divided by those that did."""
    means = [summaries[name][ACCURACY]["mean"] for name in names]
    best = max(mean for mean in means if math.isfinite(mean))
    near = sum(math.isfinite(mean) and mean >= best - margin / 2 for mean in means)
    return len(names) / near


def judge(winners, reference, baseline, test_accuracy, margin):
    """The winners judged on test accuracy ({variant: one value per seed}), paired over seeds:
    ({variant: its summary}, {variant: test against the reference family's winner}, {variant:
    test against the baseline}), Benjamini-Hochberg over each set of comparisons; a winner
    whose heads diverged is summarised but tested against nothing."""
    names = list(dict.fromkeys([*winners.values(), baseline]))
    summaries = {name: summarize(test_accuracy[name]) for name in names}
    against_reference = tested_against(reference, names, test_accuracy, margin)
    against_baseline = tested_against(baseline, names, test_accuracy, margin)
    return summaries, against_reference, against_baseline


def tested_against(reference, names, test_accuracy, margin):
    """{name: paired test of its test accuracy against `reference`'s} for those of `names`
    whose heads all scored (Benjamini-Hochberg over them); none when `reference` diverged."""
    values = {
        name: np.asarray(test_accuracy[name], dtype=float)
        for name in names
        if None not in test_accuracy[name]
    }
    return compare_with_baseline(values, reference, margin) if reference in values else {}


def judged_cells(label, test):
    """A comparison's three cells: the paired difference in points, its p (BH), its outcome."""
    if test is None:
        return {f"vs {label} (points)": "", f"vs {label}: p (BH)": "", f"vs {label}": ""}
    return {
        f"vs {label} (points)": f"{100 * test['mean_difference']:+.2f}",
        f"vs {label}: p (BH)": f"{test['p_adjusted']:.3g}",
        f"vs {label}": outcome(test),
    }


def tuned_rows(summaries, trials, winners, reference, judgement, margin):
    """The tuned study's table, one row per family, best on validation first: its winning trial,
    the validation accuracy it was chosen on, its test accuracy (mean ± std over seeds, 95 %
    interval), the paired tests against the reference family's winner and against the
    baseline, and the tuning cost."""
    tested, against_reference, against_baseline = judgement
    order = rank({winner: summaries[winner] for winner in winners.values()})
    family_of = {winner: family for family, winner in winners.items()}
    rows = []
    for winner in order:
        family = family_of[winner]
        test = tested[winner]
        rows.append(
            {
                "family": family,
                "trials": len(trials[family]),
                "winner (on validation)": winner,
                "val accuracy": mean_std(summaries[winner][ACCURACY]),
                "test accuracy": mean_std(test),
                "its 95 % interval": interval(test),
                **judged_cells("best", against_reference.get(winner)),
                **judged_cells(BASELINE, against_baseline.get(winner)),
                "tuning cost (trials)": f"{tuning_cost(summaries, trials[family], margin):.1f}",
            }
        )
    return rows


def protocol_note(budget, families, margin, seeds):
    return (
        f"Each family drew {budget} trials from its search space (study.yaml; scrambled Sobol, "
        f"the same budget for every family), {seeds} seeds each. Its winner is the trial with "
        "the highest mean final validation accuracy, and the best winner sets the reference "
        "(best); nothing was chosen on the test split. The winners are judged there: each "
        "seed's final head's test accuracy, paired over seeds against best and against "
        f"{BASELINE} (sign-flip tests, Benjamini-Hochberg over the {len(families)} families; "
        f"outcome: better or worse at p (BH) < {ALPHA}, else equivalent within "
        f"{within(margin)}, else inconclusive). Tuning cost: the trials divided by those within "
        f"half a margin ({100 * margin / 2:g} points) of the family's best validation accuracy, "
        "the expected number of random trials to land that close."
    )


def tuned_verdict(rows, budget, reference):
    """What the tuned study found, in a few sentences: the README's headline."""
    others = [row for row in rows if row["winner (on validation)"] != reference]
    counts = {
        result: sum(row["vs best"] == result for row in others)
        for result in ("equivalent", "worse", "better", "inconclusive")
    }
    found = ", ".join(f"{count} {result}" for result, count in counts.items() if count)
    leader = rows[0]
    # Adam's fixed-rate family: its variants' names are the schedule's alone (fixed-lr...)
    fixed = next((row for row in rows if row["winner (on validation)"].startswith("fixed-")), None)
    cheapest = min(rows, key=lambda row: float(row["tuning cost (trials)"]))
    dearest = max(rows, key=lambda row: float(row["tuning cost (trials)"]))
    sentences = [
        f"Tuned with {budget} trials per family, {leader['family']} led on validation "
        f"({reference}: test accuracy {leader['test accuracy']}). On the test split, which no "
        f"choice saw, the other {len(others)} families' winners against it: {found or 'none'}."
    ]
    if fixed is not None:
        sentences.append(
            f"The best fixed rate ({fixed['winner (on validation)']}) against {BASELINE}: "
            f"{fixed[f'vs {BASELINE}'] or 'the same run'}."
        )
    sentences.append(
        f"Cheapest to tune: {cheapest['family']} ({cheapest['tuning cost (trials)']} trials "
        f"expected to land within half a margin of its best); dearest: {dearest['family']} "
        f"({dearest['tuning cost (trials)']})."
    )
    return " ".join(sentences)


def optimizer_verdict(summaries, winners, optimizers, test_accuracy, margin):
    """Each optimizer at its best (its families' winners ranked on validation) against Adam at
    its best, on test accuracy paired over seeds (Benjamini-Hochberg over the optimizers): one
    sentence, or None without Adam or another optimizer among `optimizers` ({family:
    optimizer})."""
    best = {}
    for optimizer in dict.fromkeys(optimizers.values()):
        mine = [winners[family] for family, name in optimizers.items() if name == optimizer]
        best[optimizer] = rank({winner: summaries[winner] for winner in mine})[0]
    if DEFAULT_OPTIMIZER not in best or len(best) < 2:
        return None
    reference = best.pop(DEFAULT_OPTIMIZER)
    tests = tested_against(reference, [reference, *best.values()], test_accuracy, margin)
    parts = []
    for optimizer, winner in best.items():
        test = tests.get(winner)
        found = (
            f"{outcome(test)} ({100 * test['mean_difference']:+.2f} points, p (BH) "
            f"{test['p_adjusted']:.3g})"
            if test
            else "not tested (diverged)"
        )
        parts.append(f"{optimizer} ({winner}) {found}")
    return (
        f"Each optimizer at its best on validation against Adam at its best ({reference}), on "
        f"test accuracy paired over seeds (Benjamini-Hochberg over {len(best)}; equivalent "
        f"within {within(margin)}): {'; '.join(parts)}."
    )


def split_rows(winners, split_judgements):
    """Per family, its winner's outcome against best and against the baseline on each rerun
    split ({split seed: judge's result})."""
    rows = []
    for family, winner in winners.items():
        row = {"family": family, "winner": winner}
        for split_seed, (_, against_reference, against_baseline) in split_judgements.items():
            cells = [
                outcome(tests[winner]) if winner in tests else "-"
                for tests in (against_reference, against_baseline)
            ]
            row[f"split {split_seed}: vs best / vs {BASELINE}"] = " / ".join(cells)
        rows.append(row)
    return rows


def split_note(winners, split_judgements, seeds):
    if not split_judgements:
        return []
    return [
        f"The winners and {BASELINE} rerun on split seeds "
        f"{', '.join(map(str, split_judgements))} ({seeds} seeds each), judged on each split's "
        "test set. A fresh split's validation and test sets share images with the committed "
        "split's validation set, on which the winners were chosen: these reruns check the "
        "split's luck, not a second untouched test.\n\n"
        + markdown_table(split_rows(winners, split_judgements))
    ]
