"""A list grid: every variant study.yaml lists, each tested against the baseline.

    reference:
      fixed:
        - {initial_lr: 0.1}
      exp:
        - {initial_lr: 0.01, k: 0.3}

Each variant is a head trained with its schedule by params.yaml's optimizer; the baseline
(params.yaml's `baseline.lr`, the same optimizer) runs too where the grid does not list it. The
study tests every variant against the baseline, paired over seeds (analysis.py), answers the
reference reports' claims (claims.py), reruns the best, the claims' variants and the baseline on
other split seeds (splits.py) and fine-tunes the best variant significantly better than the
baseline, or the baseline itself (finetuned.py).
"""

from lrstudy.reporting.measures import ACCURACY, mean_std
from lrstudy.reporting.verdicts import best_variant_verdict, mcnemar_verdict, outcome_count
from lrstudy.study.analysis import analyse, fine_tuning_choice, rank, study_rows, table_notes
from lrstudy.study.claims import claimed_variants, claims_note
from lrstudy.study.figures import render_comparison
from lrstudy.study.finetuned import refuse_another_fine_tuning
from lrstudy.study.grids import list_settings
from lrstudy.study.kinds.head_grids import HeadGrid, families_of
from lrstudy.study.results import publish_table
from lrstudy.study.splits import rerun_variants, robustness_note, split_tests


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
        """The variants, their reruns on other split seeds and the fine-tuning of the one the
        analysis picks: the raw results (results.py)."""
        request, baseline = self.request, self.baseline
        histories = self.run_grid(runner)
        summaries, tests = analyse(histories, request.config.verdicts, baseline)
        ranking = rank(summaries)
        best = ranking[0]
        print(
            f"study: best variant {best}: final val accuracy {mean_std(summaries[best][ACCURACY])}"
            f" over {len(histories[best]['val_accuracy'])} seeds (highest mean, ties to the "
            "lower mean loss)"
        )
        chosen = []
        if request.splits > 1 and baseline in ranking:
            claimed = claimed_variants(ranking, self.records(histories), baseline)
            chosen = rerun_variants(ranking, request.top, claimed, baseline)
        variant, why = fine_tuning_choice(ranking, tests, baseline)
        print(f"study: {why}")
        return self.finish(runner, histories, chosen, variant)

    @staticmethod
    def publish(results, settings, pages=()):
        """The table of every variant and its verdicts, the figures and the page blocks, from
        the raw `results`; returns the table's Markdown."""
        grid, histories, baseline = results["grid"], results["histories"], results["baseline"]
        variants = results["variants"]
        summaries, tests = analyse(histories, settings, baseline)
        ranking = rank(summaries)
        repeats = {name: len(history["val_accuracy"]) for name, history in histories.items()}
        tests_by_split = split_tests(results["split_histories"], settings, baseline)
        chosen, why = fine_tuning_choice(ranking, tests, baseline)
        refuse_another_fine_tuning(results, chosen)
        fine_tuning = results["fine_tuning"]
        claims = claims_note(ranking, tests, settings, tests_by_split, variants, baseline)
        seeds = repeats[ranking[0]]
        verdict = best_variant_verdict(ranking[0], baseline, summaries, tests, seeds, settings)
        margin = settings.margin_fraction
        notes = [
            table_notes(settings, baseline),
            *claims,
            verdict,
            *([outcome_count(tests[ACCURACY], baseline, margin)] if tests else []),
            *robustness_note(
                results["rerun"], seeds, tests, tests_by_split, results["split_seed"], baseline
            ),
            f"{why} {fine_tuning['experiment']}: " + mcnemar_verdict(fine_tuning["test"]),
        ]
        families = families_of(variants)
        render_comparison(grid, histories, summaries, ranking, fine_tuning, families, baseline)
        rows = study_rows(summaries, tests, repeats, settings, baseline)
        return publish_table(grid, rows, notes, "\n\n".join(claims or [verdict]) + "\n", pages)
