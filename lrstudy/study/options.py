"""The study command's options: `python -m lrstudy.study --help`."""

import argparse
import os
from pathlib import Path

import lrstudy.study

DEFAULT_GRID = "reference"


def positive_number(text, allowed="a positive number"):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}")
    return int(text)


def job_count(text):
    if text == "auto":
        return os.cpu_count() or 1
    return positive_number(text, "a positive number, nor auto")


def shard(text):
    """`i/n` as (i, n), 1 <= i <= n."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError(f"{text!r} is not i/n with 1 <= i <= n (e.g. 1/2)")
    return int(index), int(count)


def arguments(argv):
    parser = argparse.ArgumentParser(description=lrstudy.study.__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default=DEFAULT_GRID, help="a top-level key of study.yaml")
    parser.add_argument(
        "--jobs",
        type=job_count,
        default="auto",
        help="variants run at the same time on this machine: a number, or auto (one per CPU "
        "core; default); with --scheduler, the workers' threads decide",
    )
    parser.add_argument(
        "--shard",
        type=shard,
        help="i/n: run only the i-th of n shares of the grid, one per machine, and stop; each "
        "pushes its experiments (make push), and a clone that pulled them all runs the study "
        "without --shard to build the table (docs/sharing.md)",
    )
    add_where_to_run(parser)
    add_what_to_run(parser)
    add_where_to_write(parser)
    args = parser.parse_args(argv)
    if (args.reanalyse or args.calibrate or args.across_regimes) and (args.shard or args.scheduler):
        parser.error(
            "--reanalyse, --calibrate and --across-regimes run nothing: they take no --shard nor "
            "--scheduler"
        )
    if args.across_regimes and args.regime:
        parser.error("--across-regimes names the regimes itself: it takes no --regime")
    if args.shard and args.scheduler:
        parser.error("--shard splits a grid without Dask: it takes no --scheduler")
    if args.queue and args.scheduler:
        parser.error("--queue runs on this machine: it takes no --scheduler")
    if args.run_others_queued and not args.queue:
        parser.error("--run-others-queued is for --queue: only DVC's queue runs others' tasks")
    return args


def add_where_to_run(parser):
    parser.add_argument(
        "--queue",
        action="store_true",
        help="run the variants on DVC's experiment queue (`dvc queue status` lists them), "
        "which copies the project for each, instead of in checkouts kept in "
        ".dvc/tmp/lrstudy-checkouts/ (the default, faster: docs/performance.md)",
    )
    parser.add_argument(
        "--run-others-queued",
        action="store_true",
        help="with --queue: also run the tasks queued before the study that are not its own "
        "(`dvc queue start` starts every queued task; without this flag the study names them "
        "and stops)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run every variant as a task of this Dask scheduler's workers, from HEAD's commit "
        "on the git remote and the DVC remote, instead of on this machine (docs/sharing.md)",
    )
    parser.add_argument(
        "--git-remote",
        default="origin",
        help="with --scheduler: the git remote the workers clone and push experiments to "
        "(default origin)",
    )


def add_what_to_run(parser):
    parser.add_argument(
        "--regime",
        metavar="NAME",
        help="run the grid under this regime of study.yaml's `regimes` (a setting of the data "
        "and budget, e.g. fewer training images per class): the study GRID+NAME, its own table, "
        "figures and experiments beside the grid's (default: params.yaml's own)",
    )
    parser.add_argument(
        "--trials",
        type=positive_number,
        help="a tuned grid's trials per family (default: the grid's own budget); trial i is "
        "the same for any number of trials of at least i",
    )


def regime_list(text):
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no regime (e.g. 5-epochs,10-epochs)")
    return names


def add_where_to_write(parser):
    parser.add_argument(
        "--across-regimes",
        metavar="R1,R2,...",
        type=regime_list,
        help="run nothing: each family of a tuned grid at its best in the grid's committed "
        "studies under these regimes and params.yaml's own, side by side "
        "(plots/study-GRID-regimes/regimes.png, metrics/study-GRID-regimes.md)",
    )
    parser.add_argument(
        "--reanalyse",
        action="store_true",
        help="run nothing: rebuild the grid's table, figures and --page blocks from its "
        "committed per-seed results (metrics/study-GRID-runs.json)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="run nothing: how often the inference rejects a variant against itself under "
        "other seeds, and finds a planted difference, on the grid's committed runs",
    )
    parser.add_argument(
        "--page",
        type=Path,
        action="append",
        default=[],
        help="also write into this page (repeatable) its blocks of the grid: the table and "
        "verdicts between <!-- study-GRID:start/end -->, the claims (without any, the best "
        "variant's verdict) between <!-- verdict-GRID:start/end -->",
    )
