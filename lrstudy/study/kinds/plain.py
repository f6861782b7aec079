"""A list grid: every variant study.yaml lists, each compared with the baseline.

    reference:
      fixed:
        - {initial_lr: 0.1}
      exp:
        - {initial_lr: 0.01, k: 0.3}

Each variant is a head trained with its schedule by params.yaml's optimizer, on every fold and
seed; the baseline (params.yaml's `baseline.lr`, the same optimizer) runs too where the grid does
not list it. The study compares every variant with the baseline over test images and seeds
(analysis.py), answers the reference reports' claims (claims.py) and fine-tunes the best variant
better than the baseline by more than the margin, or the baseline itself (finetuned.py).
"""

from lrstudy.reporting.measures import percent
from lrstudy.reporting.verdicts import mcnemar_verdict
from lrstudy.study.analysis import (
    ACCURACY,
    analyse,
    best_sentence,
    fine_tuning_choice,
    outcome_count,
    rank,
    study_rows,
    table_notes,
)
from lrstudy.study.claims import claims_note
from lrstudy.study.figures import render_comparison
from lrstudy.study.finetuned import refuse_another_fine_tuning
from lrstudy.study.grids import list_settings
from lrstudy.study.kinds.head_grids import HeadGrid, families_of
from lrstudy.study.results import publish_table


class PlainGrid(HeadGrid):
    """The kind of the grids that list their variants."""

    name = "plain"

    @staticmethod
    def spelled_by(entry):
        """Any other grid: list_settings checks its shape."""
        return True

    def __init__(self, request):
        settings = list_settings(request.source, request.grid, request.entry)
        super().__init__(request, [(family, None, family, values) for family, values in settings])

    def run(self, runner):
        """The variants and the fine-tuning of the one the analysis picks: the raw results
        (results.py)."""
        shape, runs = self.run_grid(runner)
        summaries, tests, _ = analyse(shape, runs, self.request.config.verdicts, self.baseline)
        ranking = rank(summaries)
        print(
            f"study: best variant {ranking[0]}: test accuracy "
            f"{percent(summaries[ranking[0]][ACCURACY]['mean'])} over the folds (the highest, "
            "ties to the lower mean final loss)"
        )
        variant, why = fine_tuning_choice(ranking, tests, self.baseline)
        print(f"study: {why}")
        return self.finish(runner, shape, runs, variant)

    @staticmethod
    def publish(results, settings, pages=()):
        """The table of every variant and its verdicts, the figures and the page blocks, from
        the raw `results`; returns the table's Markdown."""
        grid, shape, runs = results["grid"], results["folds"], results["runs"]
        baseline, variants = results["baseline"], results["variants"]
        summaries, tests, design = analyse(shape, runs, settings, baseline)
        ranking = rank(summaries)
        chosen, why = fine_tuning_choice(ranking, tests, baseline)
        refuse_another_fine_tuning(results, chosen)
        fine_tuning = results["fine_tuning"]
        claims = claims_note(ranking, tests, design, settings, variants, baseline)
        verdict = best_sentence(ranking[0], baseline, summaries, tests)
        margin = settings.margin_fraction
        notes = [
            table_notes(design, shape, margin, baseline) if tests else "",
            *claims,
            verdict,
            *([outcome_count(tests[ACCURACY], baseline, margin)] if tests else []),
            f"{why} {fine_tuning['experiment']}: " + mcnemar_verdict(fine_tuning["test"]),
        ]
        families = families_of(variants)
        render_comparison(grid, shape, runs, summaries, ranking, families, baseline)
        rows = study_rows(summaries, tests, design, shape, baseline)
        verdict_block = "\n\n".join(claims or [verdict]) + "\n"
        notes = [note for note in notes if note]
        return publish_table(results, rows, notes, verdict_block, pages)
