"""A grid's published numbers, from its raw results alone (results.py): the study table and
its verdicts (metrics/study-<grid>.md and .csv), the figures (plots/study-<grid>/) and the
blocks of the pages that show them. The study calls it once its runs are read, and
`--reanalyse` calls it on the committed runs file: the one path that writes what a page shows."""

import re
from pathlib import Path

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import write_table, write_text
from lrstudy.core.paths import study_table
from lrstudy.reporting.measures import ACCURACY
from lrstudy.reporting.verdicts import best_variant_verdict, mcnemar_verdict, outcome_count
from lrstudy.study.analysis import analyse, fine_tuning_choice, rank, study_rows, table_notes
from lrstudy.study.claims import claims_note
from lrstudy.study.figures import plot_finetuning, plot_sensitivity, render_comparison
from lrstudy.study.finetuning import (
    finetuning_note,
    finetuning_rows,
    finetuning_verdict,
    judge_finetuning,
)
from lrstudy.study.grid import BASELINE
from lrstudy.study.results import runs_file
from lrstudy.study.robustness import robustness_note, split_tests
from lrstudy.study.tuning import (
    judge,
    optimizer_verdict,
    protocol_note,
    select_winners,
    split_note,
    tuned_rows,
    tuned_verdict,
)


def marked_blocks(text):
    """The markers of the `<!-- marker:start -->` ... `<!-- marker:end -->` blocks in `text`."""
    return re.findall(r"^<!-- (\S+):start -->$", text, re.MULTILINE)


def replace_marked_block(path, marker, text):
    """Put `text` between the lines `<!-- marker:start -->` and `<!-- marker:end -->` of a file
    (a page's generated section); refuses a file without them."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    content = Path(path).read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise UserError(f"{path} has no `{start}` ... `{end}` block to update")
    before, rest = content.split(start, 1)
    write_text(path, before + start + "\n" + text + rest[rest.index(end) :])


def update_blocks(path, blocks):
    """Put each {marker: text} of `blocks` that the page has into its block; the markers
    updated."""
    present = [marker for marker in marked_blocks(Path(path).read_text()) if marker in blocks]
    for marker in present:
        replace_marked_block(path, marker, blocks[marker])
    return present


def check_pages(pages, grid):
    """Before the study runs: each --page exists, and one at least has a block of the grid to
    write into (the Makefile names every page for every grid)."""
    markers = {f"study-{grid}", f"verdict-{grid}"}
    for page in pages:
        if not page.is_file():
            raise UserError(f"--page {page}: no such file")
    if pages and not any(markers & set(marked_blocks(page.read_text())) for page in pages):
        names = ", ".join(map(str, pages))
        raise UserError(
            f"--page {names}: no block study-{grid} or verdict-{grid} to write the study into"
        )


def refuse_another_fine_tuning(results, chosen):
    """Refuse results whose fine-tuned variant is not `chosen`, the one the analysis picks now
    (it changed since they were run)."""
    fine_tuned = results["fine_tuning"]["variant"]
    if chosen != fine_tuned:
        raise UserError(
            f"{runs_file(results['grid'])}: the analysis now fine-tunes {chosen}, but these "
            f"results fine-tuned {fine_tuned}; run the study again "
            f"(python -m lrstudy.study --grid {results['grid']})"
        )


def publish(results, settings, pages=()):
    """Write the grid's table, figures and page blocks from its raw `results`, with the
    analysis `settings` (params.yaml's verdicts); returns the table's Markdown."""
    if "tuned" in results:
        return publish_tuned(results, settings, pages)
    if "finetuning" in results:
        return publish_finetuning(results, pages)
    grid, histories = results["grid"], results["histories"]
    summaries, tests = analyse(histories, settings)
    ranking = rank(summaries)
    repeats = {name: len(history["val_accuracy"]) for name, history in histories.items()}
    tests_by_split = split_tests(results["split_histories"], settings)
    chosen, why = fine_tuning_choice(ranking, tests)
    refuse_another_fine_tuning(results, chosen)
    fine_tuning = results["fine_tuning"]
    claims = claims_note(ranking, tests, settings, tests_by_split)
    verdict = best_variant_verdict(
        ranking[0], BASELINE, summaries, tests, repeats[ranking[0]], settings
    )
    robustness = robustness_note(
        results["rerun"], repeats[ranking[0]], tests, tests_by_split, results["split_seed"]
    )
    notes = [
        table_notes(settings),
        *claims,
        verdict,
        *([outcome_count(tests[ACCURACY], BASELINE, settings.margin_fraction)] if tests else []),
        *robustness,
        f"{why} {fine_tuning['experiment']}: " + mcnemar_verdict(fine_tuning["test"]),
    ]
    render_comparison(grid, histories, summaries, ranking, fine_tuning)
    table = write_table(study_table(grid), study_rows(summaries, tests, repeats, settings), notes)
    blocks = {f"study-{grid}": table, f"verdict-{grid}": "\n\n".join(claims or [verdict]) + "\n"}
    for page in pages:
        update_blocks(page, blocks)
    return table


def publish_tuned(results, settings, pages=()):
    """A tuned grid's table (one row per family: its winner on validation, judged on test),
    its sensitivity figure and its page blocks, from its raw `results`."""
    grid, histories, tuned = results["grid"], results["histories"], results["tuned"]
    summaries, _ = analyse(histories, settings)
    margin = settings.margin_fraction
    winners, reference = select_winners(summaries, tuned["trials"])
    refuse_another_fine_tuning(results, reference)

    def judged(found):
        """The winners among `found` ({variant: history}) judged on their test accuracy."""
        present = {family: winner for family, winner in winners.items() if winner in found}
        scores = {name: history["test_accuracy"] for name, history in found.items()}
        return judge(present, reference, BASELINE, scores, margin)

    rows = tuned_rows(summaries, tuned["trials"], winners, reference, judged(histories), margin)
    split_judgements = {
        split_seed: judged(found) for split_seed, found in results["split_histories"].items()
    }
    seeds = len(histories[reference]["val_accuracy"])
    scores = {name: history["test_accuracy"] for name, history in histories.items()}
    optimizers = optimizer_verdict(summaries, winners, tuned.get("optimizers", {}), scores, margin)
    verdict = " ".join(filter(None, [tuned_verdict(rows, tuned["budget"], reference), optimizers]))
    fine_tuning = results["fine_tuning"]
    notes = [
        protocol_note(tuned["budget"], winners, margin, seeds),
        verdict,
        *split_note(winners, split_judgements, seeds),
        f"{reference}, the best winner, fine-tuned as {fine_tuning['experiment']}: "
        + mcnemar_verdict(fine_tuning["test"]),
    ]
    plot_sensitivity(grid, summaries, tuned["trials"], tuned["settings"], winners)
    render_comparison(grid, histories, summaries, rank(summaries), fine_tuning, tuned["trials"])
    table = write_table(study_table(grid), rows, notes)
    blocks = {f"study-{grid}": table, f"verdict-{grid}": verdict + "\n"}
    for page in pages:
        update_blocks(page, blocks)
    return table


def publish_finetuning(results, pages=()):
    """A fine-tuning grid's table (one row per variant, tested against the reference image by
    image), its validation figure and its page blocks, from its raw `results`."""
    grid, record = results["grid"], results["finetuning"]
    tests = judge_finetuning(record)
    rows = finetuning_rows(record, tests)
    verdict = finetuning_verdict(rows)
    plot_finetuning(grid, record["runs"], record["reference"])
    table = write_table(study_table(grid), rows, [finetuning_note(record, tests), verdict])
    blocks = {f"study-{grid}": table, f"verdict-{grid}": verdict + "\n"}
    for page in pages:
        update_blocks(page, blocks)
    return table
