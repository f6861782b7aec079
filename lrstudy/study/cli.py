"""`python -m lrstudy.study`: a grid of study.yaml run by its kind, on the runner the options
name, then published; or, with --reanalyse, its committed runs published again."""

import contextlib
import fcntl
import functools
import os
import shlex
import sys
from pathlib import Path

from lrstudy.core.config import load_config, parse_config, read_params
from lrstudy.core.errors import UserError, reports_user_errors, stop_signals
from lrstudy.core.outputs import read_utf8
from lrstudy.core.paths import study_plots, study_table
from lrstudy.experiments import succeeded
from lrstudy.pages import block_span, marked_blocks
from lrstudy.study.calibration import calibration
from lrstudy.study.checkouts import KeptCheckouts
from lrstudy.study.cluster import Cluster
from lrstudy.study.grids import GRIDS_FILE, Request, grid_entry, read_grids, shard_of
from lrstudy.study.kinds import KINDS, kind_of, read_kind_results
from lrstudy.study.options import arguments as parse_arguments
from lrstudy.study.queue import Queue
from lrstudy.study.regime_comparison import comparison_name, publish_comparison
from lrstudy.study.regimes import read_regime, study_command, study_name
from lrstudy.study.results import runs_file, write_results
from lrstudy.study.reuse import flat


def study_interrupted(main):
    command = " ".join(["python -m lrstudy.study", *map(shlex.quote, sys.argv[1:])])
    return (
        "interrupted: the study stopped; the variants that finished are kept. Run "
        f"`{command}` again to go on."
    )


def reports_study_errors(main):
    return reports_user_errors(main, interrupted=study_interrupted)


def stops_on_signals(main):
    """main() with SIGINT and SIGTERM stopping it cleanly, wherever it was started."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        with stop_signals():
            return main(*args, **kwargs)

    return run


def check_pages(pages, grid):
    """Before the study runs: each --page exists, and one at least has a block of the grid to
    write into (the Makefile names every page for every grid)."""
    markers, found = {f"study-{grid}", f"verdict-{grid}"}, set()
    for page in pages:
        if not page.is_file():
            raise UserError(f"--page {page}: no such file")
        text = read_utf8(page)
        for marker in markers & set(marked_blocks(text)):
            block_span(page, text, marker)
            found.add(marker)
    if pages and not found:
        names = ", ".join(map(str, pages))
        raise UserError(
            f"--page {names}: no block study-{grid} or verdict-{grid} to write the study into"
        )


STUDY_LOCK = Path(".dvc/tmp/lrstudy-study.lock")


@contextlib.contextmanager
def one_study_at_a_time(grid, lock=STUDY_LOCK):
    """Hold this clone's study lock while the block runs: two studies in one clone would queue
    and run the same variants twice (the lock goes with the process, however it ends)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            raise UserError(
                f"another study runs in this clone ({holder}): wait for it to end, or run this "
                "one from another clone"
            ) from None
        file.truncate(0)
        file.write(f"pid {os.getpid()}, --grid {grid}")
        file.flush()
        yield


def run_shard(name, runner, runs, shard):
    """Only shard (i, n) of the grid's runs; the table waits for every shard's."""
    index, count = shard
    share = shard_of(runs, index, count)
    runner.run_variants(f"{name}, shard {index}/{count}", share)
    done = succeeded([run.name for run in share])
    if failed := [run.name for run in share if run.name not in done]:
        raise UserError(
            f"shard {index}/{count}: {len(failed)} of its {len(share)} variants failed "
            f"({', '.join(failed[:3])}; their logs are above): run the shard again"
        )
    print(
        f"study: shard {index}/{count} done (its {len(share)} variants succeeded). Push them "
        "(make push); once every shard is pushed, a clone that pulled them (make pull) builds "
        f"the table: {shlex.join(['python', '-m', 'lrstudy.study', *study_command(name)])}"
    )


def study_request(options):
    """What the options ask to run: the grid, and the Config its variants run with (under
    --regime, params.yaml with the regime's values)."""
    entry = grid_entry(options.grid, GRIDS_FILE)
    params = read_params()
    regime = None
    if options.regime:
        regime = read_regime(read_grids(GRIDS_FILE), options.regime, params, GRIDS_FILE)
    config = regime.applied(params) if regime else parse_config(params)
    return Request(options.grid, entry, config, GRIDS_FILE, options.trials, regime)


def run_grid(options, request):
    """The grid's kind run on the options' runner: its raw results (results.py), or None for a
    shard."""
    grid = kind_of(request.entry)(request)
    if options.scheduler:  # Dask's workers, from the commit on the git remote
        runner = Cluster(options.scheduler, options.git_remote)
    elif options.queue:  # this machine's DVC queue
        runner = Queue(options.jobs, options.run_others_queued)
    else:  # this machine, in kept checkouts
        runner = KeptCheckouts(options.jobs)
    with runner:
        if options.shard:
            return run_shard(request.name, runner, grid.runs, options.shard)
        return grid.run(runner)


@stops_on_signals
@reports_study_errors
def main(argv=None):
    options = parse_arguments(argv)
    config = load_config()
    if options.across_regimes:
        check_pages(options.page, comparison_name(options.grid))
        params = flat(read_params())
        margin = config.verdicts.margin_fraction
        regimes = options.across_regimes
        print(publish_comparison(options.grid, regimes, params, margin, options.page), end="")
        print(f"study: figure in {study_plots(comparison_name(options.grid))}/regimes.png")
        return
    name = study_name(options.grid, options.regime)
    check_pages(options.page, name)
    if options.calibrate:
        kind, results = read_kind_results(name)
        print(f"study: {calibration(results)}")
        return
    if options.reanalyse:
        kind, results = read_kind_results(name)
    else:
        with one_study_at_a_time(name):
            results = run_grid(options, study_request(options))
        if results is None:
            return
        write_results(results)
        kind = KINDS[results["kind"]]
    print(kind.publish(results, config.verdicts, options.page), end="")
    print(
        f"study: figures in {study_plots(name)}/, table in "
        f"{study_table(name)}.md, from the runs in {runs_file(name)}"
    )
