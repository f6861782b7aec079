"""`python -m lrstudy.study`: the steps of lrstudy/study/__init__.py, one after the other."""

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from lrstudy.core.config import load_config
from lrstudy.core.errors import UserError, reports_user_errors
from lrstudy.core.outputs import write_table, write_text
from lrstudy.core.paths import study_table, summary_file
from lrstudy.reporting.measures import ACCURACY, mean_std
from lrstudy.reporting.verdicts import best_variant_verdict, mcnemar_verdict, outcome_count
from lrstudy.study.analysis import (
    analyse,
    fine_tuning_choice,
    rank,
    read_histories,
    study_rows,
    table_notes,
)
from lrstudy.study.claims import claimed_variants, claims_note
from lrstudy.study.figures import render_comparison
from lrstudy.study.grid import BASELINE, load_grid, shard_of, variant_args
from lrstudy.study.options import arguments as parse_arguments
from lrstudy.study.robustness import rerun_variants, robustness_note, split_runs, split_tests
from lrstudy.study.runner import (
    ACTIVE,
    experiment_states,
    experiments,
    read_experiment_json,
    run_dvc,
    run_queue,
)


def stage_dvc_lock():
    """Queued experiments see only what git tracks: without dvc.lock each would recompute the
    features."""
    if subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dvc.lock"], capture_output=True
    ).returncode:
        print("study: staging dvc.lock (git add) so that queued variants reuse the cached stages")
        subprocess.run(["git", "add", "dvc.lock"], check=True)


def prepare_shared_stages():
    print("study: bringing fetch, split, features and baseline up to date")
    run_dvc("repro", "baseline", capture=False)
    stage_dvc_lock()


def run_variants(label, variants, jobs):
    """Run every variant [(name, `dvc exp run` arguments)] that has not succeeded: queue those
    with no experiment, requeue those that failed before, wait for those an earlier study left
    queued or running."""
    states = experiment_states(experiments())
    names = [name for name, _ in variants]
    succeeded = [name for name in names if states.get(name) == "Success"]
    pending = [name for name in names if states.get(name) in ACTIVE]
    print(f"study: {len(variants)} variants in {label}, {len(succeeded)} already run")
    if pending:
        print(f"study: waiting also for {', '.join(pending)}, left queued by an earlier study")
    for name, arguments in variants:
        if states.get(name) == "Failed":
            print(f"study: {name} failed in an earlier study; removing that task, rerunning it")
            run_dvc("queue", "remove", name)
        if name not in succeeded + pending:
            run_dvc("exp", "run", "--queue", "-n", name, *arguments, "train")
    if to_run := [name for name in names if name not in succeeded]:
        run_queue(to_run, jobs)


def succeeded(names):
    """Those of the named experiments that succeeded (here or pulled from a git remote)."""
    states = experiment_states(experiments())
    return [name for name in names if states.get(name) == "Success"]


def fine_tune(chosen, arguments, states):
    """The whole pipeline with the chosen variant's params, as the experiment `<chosen>-finetuned`
    (its `train` runs again: seconds, the same heads); McNemar's test of its fine-tuning."""
    finetuned = f"{chosen}-finetuned"
    if states.get(finetuned) != "Success":
        run_dvc("exp", "run", "-n", finetuned, *arguments[chosen], capture=False)
    evaluation = read_experiment_json(summary_file("evaluate"), finetuned)
    return finetuned, evaluation["finetuned_vs_scheduled"]


def check_robustness(grid, ranking, arguments, args, settings, split_seed):
    """The best variants, the claims' variants and the baseline on `args.splits - 1` more split
    seeds after `split_seed`: {split seed: tests} (empty with --splits 1 or without a baseline)
    and the rerun variants."""
    split_seeds = [split_seed + offset for offset in range(1, args.splits)]
    if not split_seeds or BASELINE not in ranking:
        return {}, []
    chosen = rerun_variants(ranking, args.top, claimed_variants(ranking))
    runs = split_runs(chosen, arguments, split_seeds)
    started = time.monotonic()
    run_variants(f"{grid} on split seeds {', '.join(map(str, split_seeds))}", runs, args.jobs)
    print(f"study: the split reruns took {time.monotonic() - started:.0f} s")
    return split_tests(chosen, split_seeds, succeeded([name for name, _ in runs]), settings), chosen


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


def study_interrupted(main):
    command = " ".join(["python -m lrstudy.study", *map(shlex.quote, sys.argv[1:])])
    return (
        "interrupted: the study stopped; the variants that finished are kept. Run "
        f"`{command}` again to go on."
    )


def reports_study_errors(main):
    return reports_user_errors(main, interrupted=study_interrupted)


def run_shard(grid, options, shard, jobs):
    """Only shard (i, n) of the grid's variants; the table waits for every shard's."""
    index, count = shard
    share = shard_of(list(options.items()), index, count)
    run_variants(f"{grid}, shard {index}/{count}", share, jobs)
    print(
        f"study: shard {index}/{count} done ({len(succeeded([n for n, _ in share]))} of its "
        f"{len(share)} variants succeeded). Push them (make push); once every shard is pushed, "
        f"a clone that pulled them (make pull) builds the table: python -m lrstudy.study "
        f"--grid {grid}"
    )


def print_best(best, summaries, repeats):
    print(
        f"study: best variant {best}: final val accuracy {mean_std(summaries[best][ACCURACY])} "
        f"over {repeats[best]} seeds (highest mean, ties to the lower mean loss)"
    )


@reports_study_errors
def main(argv=None):
    args = parse_arguments(argv)
    config = load_config()
    settings = config.verdicts
    variants = load_grid(args.grid, config.head.epochs)
    options = {name: variant_args(schedule) for name, schedule in variants}
    check_pages(args.page, args.grid)

    prepare_shared_stages()
    if args.shard:
        return run_shard(args.grid, options, args.shard, args.jobs)
    run_variants(args.grid, list(options.items()), args.jobs)
    finished = succeeded(list(options))
    if not finished:
        raise UserError(f"no variant of {args.grid} finished; see the logs above")
    histories = read_histories(finished)
    summaries, tests = analyse(histories, settings)
    ranking = rank(summaries)
    repeats = {name: len(history["val_accuracy"]) for name, history in histories.items()}
    print_best(ranking[0], summaries, repeats)
    split_seed = config.split.seed
    tests_by_split, chosen = check_robustness(
        args.grid, ranking, options, args, settings, split_seed
    )
    fine_tuned, why = fine_tuning_choice(ranking, tests)
    print(f"study: {why}")
    finetuned, fine_tuning = fine_tune(fine_tuned, options, experiment_states(experiments()))
    claims = claims_note(ranking, tests, settings, tests_by_split)
    verdict = best_variant_verdict(
        ranking[0], BASELINE, summaries, tests, repeats[ranking[0]], settings
    )
    notes = [
        table_notes(settings),
        *claims,
        verdict,
        *([outcome_count(tests[ACCURACY], BASELINE, settings.margin_fraction)] if tests else []),
        *robustness_note(chosen, repeats[ranking[0]], tests, tests_by_split, split_seed),
        f"{why} {finetuned}: " + mcnemar_verdict(fine_tuning),
    ]
    out = render_comparison(args.grid, histories, summaries, ranking, finetuned)
    stem = study_table(args.grid)
    table = write_table(stem, study_rows(summaries, tests, repeats, settings), notes)
    print(table, end="")
    blocks = {
        f"study-{args.grid}": table,
        f"verdict-{args.grid}": "\n\n".join(claims or [verdict]) + "\n",
    }
    for page in args.page:
        update_blocks(page, blocks)
    print(f"study: figures in {out}/, table in {stem}.md")
