"""`python -m lrstudy.study`: the steps of lrstudy/study/__init__.py, one after the other."""

import argparse
import os
import subprocess
from pathlib import Path

import lrstudy.study
from lrstudy.errors import UserError, reports_user_errors
from lrstudy.params import load_params, number
from lrstudy.paths import study_table, summary_file, time_file
from lrstudy.reporting.formatting import mean_std
from lrstudy.reporting.tables import update_blocks, write_table
from lrstudy.reporting.verdicts import best_variant_verdict, mcnemar_verdict, significance_count
from lrstudy.study.analysis import analyse, rank, study_rows
from lrstudy.study.figures import render_comparison
from lrstudy.study.grid import BASELINE, load_grid, variant_args
from lrstudy.study.runner import (
    ACTIVE,
    experiment_states,
    experiments,
    read_experiment_json,
    run_dvc,
    run_queue,
)

DEFAULT_GRID = "reference"


def stage_dvc_lock():
    """Queued experiments see only what git tracks: without dvc.lock each would recompute the
    features."""
    if subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dvc.lock"], capture_output=True
    ).returncode:
        print("study: staging dvc.lock (git add) so that queued variants reuse the cached stages")
        subprocess.run(["git", "add", "dvc.lock"], check=True)


def run_grid(grid, variants, jobs):
    """Bring the shared stages up to date, then run every variant that has not succeeded:
    queue those with no experiment, requeue those that failed before, wait for those an
    earlier study left queued or running."""
    print("study: bringing fetch, split, features and baseline up to date")
    run_dvc("repro", "baseline", capture=False)
    stage_dvc_lock()
    states = experiment_states(experiments())
    names = [name for name, _, _ in variants]
    succeeded = [name for name in names if states.get(name) == "Success"]
    pending = [name for name in names if states.get(name) in ACTIVE]
    print(f"study: {len(variants)} variants in {grid}, {len(succeeded)} already run")
    if pending:
        print(f"study: waiting also for {', '.join(pending)}, left queued by an earlier study")
    for name, family, values in variants:
        if states.get(name) == "Failed":
            print(f"study: {name} failed in an earlier study; removing that task, rerunning it")
            run_dvc("queue", "remove", name)
        if name not in succeeded + pending:
            run_dvc("exp", "run", "--queue", "-n", name, *variant_args(family, values), "train")
    if to_run := [name for name in names if name not in succeeded]:
        run_queue(to_run, jobs)


def wall_times(names, states):
    """{experiment: wall time of its `train` stage} of the named experiments that succeeded."""
    finished = [name for name in names if states.get(name) == "Success"]
    return {
        name: read_experiment_json(time_file("train"), name)["wall_time_s"] for name in finished
    }


def fine_tune_best(best, variants, states):
    """The whole pipeline with the best variant's params, as the experiment `<best>-finetuned`
    (its `train` runs again: seconds, the same heads); McNemar's test of its fine-tuning."""
    finetuned = f"{best}-finetuned"
    if states.get(finetuned) != "Success":
        _, family, values = next(variant for variant in variants if variant[0] == best)
        run_dvc("exp", "run", "-n", finetuned, *variant_args(family, values), capture=False)
    return finetuned, read_experiment_json(summary_file("evaluate"), finetuned)["finetune_vs_train"]


def write_pages(pages, blocks):
    """Each of {marker: text} into every page that has its block; pages with none refused."""
    if pages and not [marker for page in pages for marker in update_blocks(page, blocks)]:
        names = ", ".join(map(str, pages))
        raise UserError(f"{names}: no block {' or '.join(blocks)} to write the study into")


def job_count(text):
    if text == "auto":
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a positive number nor auto")
    return int(text)


def arguments(argv):
    parser = argparse.ArgumentParser(description=lrstudy.study.__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default=DEFAULT_GRID, help="a top-level key of study.yaml")
    parser.add_argument(
        "--jobs",
        type=job_count,
        default="auto",
        help="variants run at the same time: a number, or auto (one per CPU core; default)",
    )
    parser.add_argument(
        "--page",
        type=Path,
        action="append",
        default=[],
        help="also write into this page (repeatable) its blocks of the grid: the table and "
        "verdicts between <!-- study-GRID:start/end -->, the verdicts alone between "
        "<!-- verdict-GRID:start/end -->",
    )
    return parser.parse_args(argv)


@reports_user_errors
def main(argv=None):
    args = arguments(argv)
    epochs = number(load_params(), "train.epochs", minimum=1, integer=True)
    variants = load_grid(args.grid, epochs)
    names = [name for name, _, _ in variants]

    run_grid(args.grid, variants, args.jobs)
    states = experiment_states(experiments())
    finished = wall_times(set(names), states)
    if not finished:
        raise UserError(f"no variant of {args.grid} finished; see the logs above")
    histories, summaries, tests = analyse([name for name in names if name in finished])
    ranking = rank(summaries)
    best, seeds = ranking[0], {name: len(histories[name]["val_accuracy"]) for name in histories}
    print(
        f"study: best variant {best}: final val accuracy "
        f"{mean_std(summaries[best]['final_val_accuracy'])} over {seeds[best]} seeds "
        "(highest mean, ties to the lower mean loss)"
    )
    finetuned, fine_tuning = fine_tune_best(best, variants, states)
    notes = [
        best_variant_verdict(best, BASELINE, summaries, tests, seeds[best]),
        *([significance_count(tests, BASELINE)] if tests else []),
        f"{finetuned}: " + mcnemar_verdict(fine_tuning),
    ]
    out = render_comparison(args.grid, histories, summaries, ranking, finetuned)
    stem = study_table(args.grid)
    table = write_table(stem, study_rows(summaries, tests, finished, seeds), notes)
    print(table, end="")
    blocks = {f"study-{args.grid}": table, f"verdict-{args.grid}": "\n\n".join(notes[:2]) + "\n"}
    write_pages(args.page, blocks)
    print(f"study: figures in {out}/, table in {stem}.md")
