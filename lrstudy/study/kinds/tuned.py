"""A tuned grid: schedules compared at their best. Each family's trials (sampling.py, the same
budget for every family) train on every fold; on each fold, each family's winner is its trial
with the highest validation accuracy there, and that winner is judged on the same fold's test
images, which no choice saw (selection nested in the folds). A family's test outcomes are its
winners' on their folds; they are compared over images and seeds (lrstudy/inference.py) with
the best family's on each fold and with the baseline's, and the table says how often the folds
agreed on each family's winner. The trial best on validation over every fold is fine-tuned.

    tuned:
      trials: 8
      space:
        exp: {initial_lr: [1.0e-4, 1.0e-1, log], k: [0.02, 0.5]}

A space keyed by optimizers makes a family of each optimizer and schedule; each optimizer at its
best (per fold, its best family's winner) is then compared with the baseline's optimizer at
its best.
"""

import math
from collections import Counter
from typing import Annotated

import numpy as np
from pydantic import Field, StrictInt

from lrstudy import inference
from lrstudy.core.errors import UserError
from lrstudy.core.optimizers import OPTIMIZERS
from lrstudy.reporting.measures import interval, percent
from lrstudy.reporting.verdicts import mcnemar_verdict, within
from lrstudy.statistics import summarize
from lrstudy.study import folds
from lrstudy.study.analysis import compared, interval_of
from lrstudy.study.figures import plot_budgets, plot_sensitivity, render_comparison
from lrstudy.study.finetuned import refuse_another_fine_tuning
from lrstudy.study.kinds.head_grids import HeadGrid, HeadResults, families_of
from lrstudy.study.kinds.sampling import tuned_settings
from lrstudy.study.results import publish_table


def scores(shape, runs):
    """(folds, names) the mean over seeds of each trial's final validation accuracy on each
    fold, and (folds, names) its mean final validation loss there: what winners are chosen
    on. A trial with a diverged head scores -inf on every fold: its numbers measure nothing."""
    names = list(runs)
    accuracy = np.array(
        [folds.val_accuracy(shape, runs[name])[..., -1].mean(axis=1) for name in names]
    ).T
    loss = np.array([folds.final_val_loss(shape, runs[name]).mean(axis=1) for name in names]).T
    accuracy[:, ~np.isfinite(loss).all(axis=0)] = -np.inf
    return names, accuracy, loss


def winners_per_fold(shape, runs, candidates):
    """{group: [its winner on each fold]} of `candidates` ({group: [trial names]}): the highest
    mean validation accuracy on that fold, ties to the lower mean loss."""
    names, accuracy, loss = scores(shape, runs)
    column = {name: index for index, name in enumerate(names)}
    chosen = {}
    for group, members in candidates.items():
        chosen[group] = [
            min(members, key=lambda n: (-accuracy[fold, column[n]], loss[fold, column[n]]))
            for fold in range(accuracy.shape[0])
        ]
    return chosen


def pooled(shape, runs):
    """{trial: its final validation accuracy, each seed's mean over the folds: mean and 95 %
    interval over seeds}."""
    return {
        name: summarize(folds.val_accuracy(shape, found)[..., -1].mean(axis=0))
        for name, found in runs.items()
    }


def composite(shape, runs, chosen):
    """(seeds, images) right or wrong of the trials `chosen` on each fold, each on its fold's
    test images; None when one diverged."""
    return folds.outcomes(shape, None, [runs[name] for name in chosen])


def common_target(validation, margin):
    """What every family's tuning is counted against: the best trial's validation accuracy of
    any family, less half a margin."""
    return max(s["mean"] for s in validation.values() if math.isfinite(s["mean"])) - margin / 2


def tuning_cost(validation, names, target):
    """The expected number of random trials to reach `target` (common_target): the family's
    trials divided by those that did; infinite where none did."""
    near = sum(validation[name]["mean"] >= target for name in names)
    return len(names) / near if near else math.inf


def cost_text(cost, trials):
    return f"{cost:.1f}" if math.isfinite(cost) else f"none of {trials}"


def compare_all(outcomes, reference, margin):
    """{group: its comparison with `reference`'s outcomes} over images and seeds, BH over those
    compared; a group whose outcomes are the reference's own, or diverged, is not compared."""
    tests = {
        group: inference.compare_images(found.astype(float) - reference, margin)
        for group, found in outcomes.items()
        if found is not None and reference is not None and not np.array_equal(found, reference)
    }
    return inference.adjust(tests)


def agreement(chosen):
    """(the trial most folds chose, how many did)."""
    return Counter(chosen).most_common(1)[0]


def cells(label, test):
    """A comparison's cells: the difference in points with its 90 % interval, its outcome."""
    if test is None:
        return {f"vs {label} (points, 90 % interval)": "", f"vs {label}": ""}
    return {
        f"vs {label} (points, 90 % interval)": compared(test),
        f"vs {label}": inference.outcome(test),
    }


def tuned_rows(judgement, trials, costs, baseline):
    """The tuned study's table, one row per family, best on validation first."""
    rows = []
    for family in judgement["order"]:
        winner, agreeing = agreement(judgement["winners"][family])
        found = judgement["outcomes"][family]
        rows.append(
            {
                "family": family,
                "trials": len(trials[family]),
                "winner (most folds)": winner,
                "folds choosing it": f"{agreeing} of {len(judgement['winners'][family])}",
                "val accuracy (its winners)": percent(judgement["validation"][family]),
                "test accuracy": "diverged" if found is None else percent(found.mean()),
                "its 95 % interval": "" if found is None else interval(interval_of(found)),
                **cells("best", judgement["against_best"].get(family)),
                **cells(baseline, judgement["against_baseline"].get(family)),
                "tuning cost (trials)": cost_text(costs[family], len(trials[family])),
            }
        )
    return rows


def judge(shape, runs, trials, baseline, margin):
    """Each family's winners per fold and their outcomes; the best family per fold; every
    family compared with the best and with the baseline; families ordered by the validation
    accuracy of their winners."""
    winners = winners_per_fold(shape, runs, trials)
    names, accuracy, _ = scores(shape, runs)
    column = {name: index for index, name in enumerate(names)}
    on_validation = {
        family: float(np.mean([accuracy[f, column[n]] for f, n in enumerate(chosen)]))
        for family, chosen in winners.items()
    }
    best = [
        max(winners, key=lambda family: accuracy[fold, column[winners[family][fold]]])
        for fold in range(accuracy.shape[0])
    ]
    outcomes = {family: composite(shape, runs, chosen) for family, chosen in winners.items()}
    best_outcomes = composite(shape, runs, [winners[family][f] for f, family in enumerate(best)])
    base = folds.outcomes(shape, runs[baseline])
    return {
        "winners": winners,
        "best": best,
        "outcomes": outcomes,
        "validation": on_validation,
        "order": sorted(winners, key=lambda family: -on_validation[family]),
        "against_best": compare_all(outcomes, best_outcomes, margin),
        "against_baseline": compare_all(outcomes, base, margin),
    }


def comparisons(tests):
    return f"{len(tests)} comparison" + ("" if len(tests) == 1 else "s")


def protocol_note(budget, judgement, shape, margin, baseline):
    return (
        f"Each family drew {budget} trials from its search space (study.yaml; scrambled Sobol, "
        f"the same budget for every family), each trained on {len(shape['images']['test'])} "
        f"folds with {folds.seeds_of(shape)} seeds. On each fold, a family's winner is its "
        "trial with the highest final validation accuracy there (mean over seeds) and best is "
        "the family whose winner is highest; each winner is judged on the test images of the "
        "fold it was chosen on, which no choice saw, and a family's test accuracy is its "
        "winners' over every image. Compared over images and seeds (lrstudy/inference.py) with "
        f"best ({comparisons(judgement['against_best'])}: a family best on every fold is best "
        f"itself) and with {baseline} ({comparisons(judgement['against_baseline'])}), "
        f"Benjamini-Hochberg over each set; outcome: better or worse by more than "
        f"{within(margin)}, else equivalent within it, else not resolved. Tuning cost: the "
        "trials divided by those within half a margin "
        f"({100 * margin / 2:g} points) of the best validation accuracy of any family's trial, "
        "one target for all, the expected number of random trials to reach it."
    )


def tuned_verdict(judgement, budget, baseline, baseline_family):
    """What the tuned study found, in a few sentences: the README's headline."""
    leader = judgement["order"][0]
    winner, agreeing = agreement(judgement["winners"][leader])
    tests = judgement["against_best"]
    counts = Counter(inference.outcome(test) for test in tests.values())
    found = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    best_folds = Counter(judgement["best"])
    sentences = [
        f"Tuned with {budget} trials per family, chosen on each fold's validation and judged "
        f"on that fold's test images: {leader} led on validation (the best family on "
        f"{best_folds[leader]} of the {len(judgement['best'])} folds; its most chosen winner, "
        f"{winner}, on {agreeing}). Against "
        f"the best family on each fold, the families' winners: {found or 'none compared'}."
    ]
    test = judgement["against_baseline"].get(baseline_family)
    if test is not None:
        sentences.append(
            f"The best fixed rate (its winners) against {baseline}: {inference.outcome(test)} "
            f"({compared(test)} points)."
        )
    return " ".join(sentences)


def cost_sentence(costs, trials):
    cheapest = min(costs, key=costs.get)
    dearest = max(costs, key=costs.get)
    return (
        f"Cheapest to tune: {cheapest} ({cost_text(costs[cheapest], len(trials[cheapest]))} "
        "trials expected to come within half a margin of the best trial of any family); "
        f"dearest: {dearest} ({cost_text(costs[dearest], len(trials[dearest]))})."
    )


def optimizer_verdict(shape, runs, judgement, optimizers, reference, margin):
    """Each optimizer at its best (per fold, its families' winner best on that fold's
    validation) against the `reference` optimizer (the baseline's) at its best, over images and
    seeds (Benjamini-Hochberg over the optimizers): one sentence, or None without the reference
    or another optimizer among `optimizers` ({family: optimizer})."""
    groups = {}
    for family, optimizer in optimizers.items():
        groups.setdefault(optimizer, []).extend(dict.fromkeys(judgement["winners"][family]))
    if reference not in groups or len(groups) < 2:
        return None
    chosen = winners_per_fold(shape, runs, groups)
    outcomes = {optimizer: composite(shape, runs, names) for optimizer, names in chosen.items()}
    leader = outcomes.pop(reference)
    tests = compare_all(outcomes, leader, margin)
    parts = [
        f"{optimizer} {inference.outcome(tests[optimizer])} ({compared(tests[optimizer])} points)"
        if optimizer in tests
        else f"{optimizer} not compared (diverged)"
        for optimizer in outcomes
    ]
    return (
        f"Each optimizer at its best on each fold's validation against "
        f"{OPTIMIZERS[reference].label} at its best, over images and seeds (Benjamini-Hochberg "
        f"over {len(outcomes)}; equivalent within {within(margin)}): {'; '.join(parts)}."
    )


def family_of_schedule(variants, trials, record):
    """The family whose trials all have `record`'s schedule and optimizer (the baseline's: its
    winners are the best rates of the baseline's kind), or None."""

    def alike(name):
        mine = variants[name]
        same_schedule = mine["schedule"]["name"] == record["schedule"]["name"]
        return same_schedule and mine["optimizer"] == record["optimizer"]

    return next((family for family, names in trials.items() if all(map(alike, names))), None)


def fine_tuned_trial(validation, trials):
    """The trial with the highest validation accuracy over every fold: the one fine-tuned."""
    names = [name for members in trials.values() for name in members]
    return max(names, key=lambda name: validation[name]["mean"])


class TunedResults(HeadResults):
    budget: Annotated[StrictInt, Field(ge=1)]  # trials per family


class TunedGrid(HeadGrid):
    """The kind of the grids that name a budget and a search space per family."""

    name = "tuned"
    Results = TunedResults

    @staticmethod
    def spelled_by(entry):
        return isinstance(entry, dict) and "trials" in entry

    def __init__(self, request):
        settings = tuned_settings(request.grid, request.entry, request.trials, request.source)
        super().__init__(request, settings)
        self.budget = request.trials if request.trials is not None else request.entry["trials"]

    def run(self, runner):
        """Every family's trials and the baseline; the trial best on validation over every
        fold fine-tuned: the raw results (results.py)."""
        shape, runs = self.run_grid(runner)
        if self.baseline not in runs:
            raise UserError(f"{self.baseline} did not finish; see the logs above")
        trials = families_of(self.records(runs))
        chosen = fine_tuned_trial(pooled(shape, runs), trials)
        print(f"study: best on validation over every fold: {chosen}")
        return {**self.finish(runner, shape, runs, chosen), "budget": self.budget}

    @staticmethod
    def publish(results, settings, pages=()):
        """One row per family (its winners on each fold's validation, judged on that fold's
        test images), the sensitivity figure, the curves and the page blocks, from the raw
        `results`; returns the table's Markdown."""
        grid, shape, runs = results["grid"], results["folds"], results["runs"]
        baseline, variants, budget = results["baseline"], results["variants"], results["budget"]
        trials = families_of(variants)
        margin = settings.margin_fraction
        validation = pooled(shape, runs)
        refuse_another_fine_tuning(results, fine_tuned_trial(validation, trials))
        judgement = judge(shape, runs, trials, baseline, margin)
        target = common_target(validation, margin)
        costs = {family: tuning_cost(validation, names, target) for family, names in trials.items()}
        rows = tuned_rows(judgement, trials, costs, baseline)
        optimizers = {family: variants[names[0]]["optimizer"] for family, names in trials.items()}
        baseline_family = family_of_schedule(variants, trials, variants[baseline])
        reference = variants[baseline]["optimizer"]
        verdict = " ".join(
            filter(
                None,
                [
                    tuned_verdict(judgement, budget, baseline, baseline_family),
                    cost_sentence(costs, trials),
                    optimizer_verdict(shape, runs, judgement, optimizers, reference, margin),
                ],
            )
        )
        fine_tuning = results["fine_tuning"]
        notes = [
            protocol_note(budget, judgement, shape, margin, baseline),
            verdict,
            f"{fine_tuning['variant']}, best on validation over every fold, fine-tuned as "
            f"{fine_tuning['experiment']}: " + mcnemar_verdict(fine_tuning["test"]),
        ]
        modal = {family: agreement(chosen)[0] for family, chosen in judgement["winners"].items()}
        schedules = {name: record["schedule"] for name, record in variants.items()}
        epochs = len(next(iter(runs.values()))["val_right"][0])
        plot_sensitivity(grid, validation, trials, schedules, modal, epochs)
        plot_budgets(grid, validation, trials, target)
        ranking = sorted(validation, key=lambda name: -validation[name]["mean"])
        summaries = {
            name: {"test_accuracy": interval_of(found), "diverged": False}
            for name in runs
            if (found := folds.outcomes(shape, runs[name])) is not None
        }
        ranking = [name for name in ranking if name in summaries]
        render_comparison(grid, shape, runs, summaries, ranking, trials, baseline)
        return publish_table(results, rows, notes, verdict + "\n", pages)
