"""A tuned grid: schedules compared at their best. Each family's trials (sampling.py, the same
budget for every family) are ranked on validation, the winners judged on the test split, which
no choice saw, against the best winner and against the baseline, and the cost of tuning each
family is measured. The winners and the baseline run again on other split seeds, and the best
winner is fine-tuned.

    tuned:
      trials: 8
      space:
        exp: {initial_lr: [1.0e-4, 1.0e-1, log], k: [0.02, 0.5]}

A space keyed by optimizers makes a family of each optimizer and schedule; each optimizer at its
best is then judged against the baseline's optimizer at its best.
"""

import math

import numpy as np

from lrstudy.core.errors import UserError
from lrstudy.core.optimizers import OPTIMIZERS
from lrstudy.core.outputs import markdown_table
from lrstudy.reporting.measures import ACCURACY, interval, mean_std
from lrstudy.reporting.verdicts import mcnemar_verdict, within
from lrstudy.statistics import ALPHA, compare_with_baseline, outcome, summarize
from lrstudy.study.analysis import analyse, rank
from lrstudy.study.figures import plot_sensitivity, render_comparison
from lrstudy.study.finetuned import refuse_another_fine_tuning
from lrstudy.study.kinds.head_grids import HeadGrid, families_of
from lrstudy.study.kinds.sampling import tuned_settings
from lrstudy.study.results import publish_table


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


def tuned_rows(summaries, trials, winners, reference, judgement, margin, baseline):
    """The tuned study's table, one row per family, best on validation first: its winning trial,
    the validation accuracy it was chosen on, its test accuracy (mean ± std over seeds, 95 %
    interval), the paired tests against the reference family's winner and against the
    `baseline`, and the tuning cost."""
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
                **judged_cells(baseline, against_baseline.get(winner)),
                "tuning cost (trials)": f"{tuning_cost(summaries, trials[family], margin):.1f}",
            }
        )
    return rows


def protocol_note(budget, families, margin, seeds, baseline):
    return (
        f"Each family drew {budget} trials from its search space (study.yaml; scrambled Sobol, "
        f"the same budget for every family), {seeds} seeds each. Its winner is the trial with "
        "the highest mean final validation accuracy, and the best winner sets the reference "
        "(best); nothing was chosen on the test split. The winners are judged there: each "
        "seed's final head's test accuracy, paired over seeds against best and against "
        f"{baseline} (sign-flip tests, Benjamini-Hochberg over the {len(families)} families; "
        f"outcome: better or worse at p (BH) < {ALPHA}, else equivalent within "
        f"{within(margin)}, else inconclusive). Tuning cost: the trials divided by those within "
        f"half a margin ({100 * margin / 2:g} points) of the family's best validation accuracy, "
        "the expected number of random trials to land that close."
    )


def tuned_verdict(rows, budget, reference, baseline, baseline_family):
    """What the tuned study found, in a few sentences: the README's headline. `baseline_family`:
    the family of the baseline's schedule and optimizer, whose winner is its best rate."""
    others = [row for row in rows if row["winner (on validation)"] != reference]
    counts = {
        result: sum(row["vs best"] == result for row in others)
        for result in ("equivalent", "worse", "better", "inconclusive")
    }
    found = ", ".join(f"{count} {result}" for result, count in counts.items() if count)
    leader = rows[0]
    fixed = next((row for row in rows if row["family"] == baseline_family), None)
    cheapest = min(rows, key=lambda row: float(row["tuning cost (trials)"]))
    dearest = max(rows, key=lambda row: float(row["tuning cost (trials)"]))
    sentences = [
        f"Tuned with {budget} trials per family, {leader['family']} led on validation "
        f"({reference}: test accuracy {leader['test accuracy']}). On the test split, which no "
        f"choice saw, the other {len(others)} families' winners against it: {found or 'none'}."
    ]
    if fixed is not None:
        sentences.append(
            f"The best fixed rate ({fixed['winner (on validation)']}) against {baseline}: "
            f"{fixed[f'vs {baseline}'] or 'the same run'}."
        )
    sentences.append(
        f"Cheapest to tune: {cheapest['family']} ({cheapest['tuning cost (trials)']} trials "
        f"expected to land within half a margin of its best); dearest: {dearest['family']} "
        f"({dearest['tuning cost (trials)']})."
    )
    return " ".join(sentences)


def optimizer_verdict(summaries, winners, optimizers, test_accuracy, margin, reference):
    """Each optimizer at its best (its families' winners ranked on validation) against the
    `reference` optimizer (the baseline's) at its best, on test accuracy paired over seeds
    (Benjamini-Hochberg over the optimizers): one sentence, or None without the reference or
    another optimizer among `optimizers` ({family: optimizer})."""
    best = {}
    for optimizer in dict.fromkeys(optimizers.values()):
        mine = [winners[family] for family, name in optimizers.items() if name == optimizer]
        best[optimizer] = rank({winner: summaries[winner] for winner in mine})[0]
    if reference not in best or len(best) < 2:
        return None
    label, leader = OPTIMIZERS[reference].label, best.pop(reference)
    tests = tested_against(leader, [leader, *best.values()], test_accuracy, margin)
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
        f"Each optimizer at its best on validation against {label} at its best ({leader}), on "
        f"test accuracy paired over seeds (Benjamini-Hochberg over {len(best)}; equivalent "
        f"within {within(margin)}): {'; '.join(parts)}."
    )


def split_rows(winners, split_judgements, baseline):
    """Per family, its winner's outcome against best and against the `baseline` on each rerun
    split ({split seed: judge's result})."""
    rows = []
    for family, winner in winners.items():
        row = {"family": family, "winner": winner}
        for split_seed, (_, against_reference, against_baseline) in split_judgements.items():
            cells = [
                outcome(tests[winner]) if winner in tests else "-"
                for tests in (against_reference, against_baseline)
            ]
            row[f"split {split_seed}: vs best / vs {baseline}"] = " / ".join(cells)
        rows.append(row)
    return rows


def split_note(winners, split_judgements, seeds, baseline):
    if not split_judgements:
        return []
    return [
        f"The winners and {baseline} rerun on split seeds "
        f"{', '.join(map(str, split_judgements))} ({seeds} seeds each), judged on each split's "
        "test set. A fresh split's validation and test sets share images with the committed "
        "split's validation set, on which the winners were chosen: these reruns check the "
        "split's luck, not a second untouched test.\n\n"
        + markdown_table(split_rows(winners, split_judgements, baseline))
    ]


def family_of_schedule(variants, trials, record):
    """The family whose trials all have `record`'s schedule and optimizer (the baseline's: its
    winner is the best rate of the baseline's kind), or None."""

    def alike(name):
        mine = variants[name]
        same_schedule = mine["schedule"]["name"] == record["schedule"]["name"]
        return same_schedule and mine["optimizer"] == record["optimizer"]

    return next((family for family, names in trials.items() if all(map(alike, names))), None)


class TunedGrid(HeadGrid):
    """The kind of the grids that name a budget and a search space per family."""

    name = "tuned"

    @staticmethod
    def spelled_by(entry):
        return isinstance(entry, dict) and "trials" in entry

    def __init__(self, request):
        settings = tuned_settings(request.grid, request.entry, request.trials, request.source)
        super().__init__(request, settings)
        self.budget = request.trials if request.trials is not None else request.entry["trials"]

    def run(self, runner):
        """Every family's trials and the baseline; each family's winner on validation; the
        winners and the baseline on other split seeds; the best winner fine-tuned: the raw
        results (results.py)."""
        histories = self.run_grid(runner)
        if self.baseline not in histories:
            raise UserError(f"{self.baseline} did not finish; see the logs above")
        trials = families_of(self.records(histories))
        summaries, _ = analyse(histories, self.request.config.verdicts, self.baseline)
        winners, reference = select_winners(summaries, trials)
        print(f"study: winners on validation: {', '.join(winners.values())}; best {reference}")
        chosen = list(dict.fromkeys([self.baseline, *winners.values()]))
        return {**self.finish(runner, histories, chosen, reference), "budget": self.budget}

    @staticmethod
    def publish(results, settings, pages=()):
        """One row per family (its winner on validation, judged on test), the sensitivity
        figure, the curves and the page blocks, from the raw `results`; returns the table's
        Markdown."""
        grid, histories, baseline = results["grid"], results["histories"], results["baseline"]
        variants, budget = results["variants"], results["budget"]
        trials = families_of(variants)
        summaries, _ = analyse(histories, settings, baseline)
        margin = settings.margin_fraction
        winners, reference = select_winners(summaries, trials)
        refuse_another_fine_tuning(results, reference)

        def judged(found):
            """The winners among `found` ({variant: history}) judged on their test accuracy."""
            present = {family: winner for family, winner in winners.items() if winner in found}
            scores = {name: history["test_accuracy"] for name, history in found.items()}
            return judge(present, reference, baseline, scores, margin)

        judgement = judged(histories)
        rows = tuned_rows(summaries, trials, winners, reference, judgement, margin, baseline)
        split_judgements = {
            split_seed: judged(found) for split_seed, found in results["split_histories"].items()
        }
        seeds = len(histories[reference]["val_accuracy"])
        scores = {name: history["test_accuracy"] for name, history in histories.items()}
        optimizers = {family: variants[names[0]]["optimizer"] for family, names in trials.items()}
        baseline_optimizer = variants[baseline]["optimizer"]
        by_optimizer = optimizer_verdict(
            summaries, winners, optimizers, scores, margin, baseline_optimizer
        )
        baseline_family = family_of_schedule(variants, trials, variants[baseline])
        verdict = " ".join(
            filter(
                None,
                [tuned_verdict(rows, budget, reference, baseline, baseline_family), by_optimizer],
            )
        )
        fine_tuning = results["fine_tuning"]
        notes = [
            protocol_note(budget, winners, margin, seeds, baseline),
            verdict,
            *split_note(winners, split_judgements, seeds, baseline),
            f"{reference}, the best winner, fine-tuned as {fine_tuning['experiment']}: "
            + mcnemar_verdict(fine_tuning["test"]),
        ]
        schedules = {name: record["schedule"] for name, record in variants.items()}
        plot_sensitivity(grid, summaries, trials, schedules, winners)
        ranking = rank(summaries)
        render_comparison(grid, histories, summaries, ranking, fine_tuning, trials, baseline)
        return publish_table(grid, rows, notes, verdict + "\n", pages)
