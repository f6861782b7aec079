"""`python -m lrstudy.study`: the steps of lrstudy/study/__init__.py, one after the other."""

import contextlib
import shlex
import subprocess
import sys
import time

from lrstudy.core.config import load_config
from lrstudy.core.errors import UserError, reports_user_errors
from lrstudy.core.paths import study_plots, study_table
from lrstudy.reporting.measures import ACCURACY, mean_std
from lrstudy.study.analysis import analyse, fine_tuning_choice, rank
from lrstudy.study.claims import claimed_variants
from lrstudy.study.cluster import SHARED_STAGE, Cluster
from lrstudy.study.finetuning import (
    finetuning_results,
    finetuning_variants,
    is_finetuning,
    read_finetuning_runs,
)
from lrstudy.study.grid import BASELINE, GRIDS_FILE, grid_variants, read_grids, shard_of
from lrstudy.study.options import arguments as parse_arguments
from lrstudy.study.publish import check_pages, publish
from lrstudy.study.results import (
    read_fine_tuning,
    read_histories,
    read_results,
    runs_file,
    study_results,
    write_results,
)
from lrstudy.study.robustness import rerun_variants, split_name, split_runs
from lrstudy.study.runner import Queue, run_dvc, succeeded
from lrstudy.study.tuning import select_winners

FINETUNING_TARGETS = ("evaluate",)  # finetune, then its test predictions


def stage_dvc_lock():
    """Queued experiments see only what git tracks: without dvc.lock each would recompute the
    features."""
    if subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dvc.lock"], capture_output=True
    ).returncode:
        print("study: staging dvc.lock (git add) so that queued variants reuse the cached stages")
        subprocess.run(["git", "add", "dvc.lock"], check=True)


def prepare_shared_stages():
    print(f"study: bringing fetch, split, features and {SHARED_STAGE} up to date")
    run_dvc("repro", SHARED_STAGE, capture=False)
    stage_dvc_lock()


@contextlib.contextmanager
def variant_runner(args):
    """What runs the variants: Dask's workers (--scheduler), which start from the commit on the
    git remote, or this machine's DVC queue, once the shared stages are up to date here."""
    if not args.scheduler:
        prepare_shared_stages()
        yield Queue(args.jobs)
        return
    cluster = Cluster(args.scheduler, args.git_remote)
    try:
        yield cluster
    finally:
        cluster.close()


def fine_tune(runner, variant, arguments):
    """The whole pipeline with the variant's params, as the experiment `<variant>-finetuned`
    (its `train` runs again: seconds, the same heads), queued like the variants so that the
    workspace stays as it was; its record (results.py)."""
    finetuned = f"{variant}-finetuned"
    runner.run_variants(f"fine-tuning {variant}", [(finetuned, arguments[variant])], targets=())
    if not succeeded([finetuned]):
        raise UserError(f"{finetuned} failed; its log is above")
    return read_fine_tuning(variant, finetuned)


def rerun_on_splits(args, runner, chosen, arguments, split_seed):
    """Run the `chosen` variants again on the `args.splits - 1` split seeds after `split_seed`:
    {split seed: {variant: history}} (none with --splits 1)."""
    split_seeds = [split_seed + offset for offset in range(1, args.splits)]
    if not split_seeds:
        return {}
    runs = split_runs(chosen, arguments, split_seeds)
    started = time.monotonic()
    runner.run_variants(f"{args.grid} on split seeds {', '.join(map(str, split_seeds))}", runs)
    print(f"study: the split reruns took {time.monotonic() - started:.0f} s")
    finished = succeeded([name for name, _ in runs])
    histories = {}
    for split_seed in split_seeds:
        names = {split_name(name, split_seed): name for name in chosen}
        found = read_histories([rerun for rerun in names if rerun in finished])
        histories[split_seed] = {names[rerun]: history for rerun, history in found.items()}
    return histories


def check_robustness(runner, ranking, arguments, args, split_seed):
    """The best variants, the claims' variants and the baseline on `args.splits - 1` more split
    seeds after `split_seed`: (the variants rerun, {split seed: {variant: history}}); none
    with --splits 1 or without a baseline."""
    if args.splits == 1 or BASELINE not in ranking:
        return [], {}
    chosen = rerun_variants(ranking, args.top, claimed_variants(ranking))
    return chosen, rerun_on_splits(args, runner, chosen, arguments, split_seed)


def study_interrupted(main):
    command = " ".join(["python -m lrstudy.study", *map(shlex.quote, sys.argv[1:])])
    return (
        "interrupted: the study stopped; the variants that finished are kept. Run "
        f"`{command}` again to go on."
    )


def reports_study_errors(main):
    return reports_user_errors(main, interrupted=study_interrupted)


def run_shard(grid, runner, options, shard, targets=("train",)):
    """Only shard (i, n) of the grid's variants; the table waits for every shard's."""
    index, count = shard
    share = shard_of(list(options.items()), index, count)
    runner.run_variants(f"{grid}, shard {index}/{count}", share, targets)
    print(
        f"study: shard {index}/{count} done ({len(succeeded([n for n, _ in share]))} of its "
        f"{len(share)} variants succeeded). Push them (make push); once every shard is pushed, "
        f"a clone that pulled them (make pull) builds the table: python -m lrstudy.study "
        f"--grid {grid}"
    )


def print_best(best, summaries, seeds):
    print(
        f"study: best variant {best}: final val accuracy {mean_std(summaries[best][ACCURACY])} "
        f"over {seeds} seeds (highest mean, ties to the lower mean loss)"
    )


def run_study(args, runner, options, split_seed, settings):
    """Run the grid's variants ({name: `dvc exp run` arguments}), their reruns on other split
    seeds and the fine-tuning of the one the analysis picks; the raw results (results.py)."""
    runner.run_variants(args.grid, list(options.items()))
    finished = succeeded(list(options))
    if not finished:
        raise UserError(f"no variant of {args.grid} finished; see the logs above")
    histories = read_histories(finished)
    summaries, tests = analyse(histories, settings)
    ranking = rank(summaries)
    print_best(ranking[0], summaries, len(histories[ranking[0]]["val_accuracy"]))
    chosen, split_histories = check_robustness(runner, ranking, options, args, split_seed)
    variant, why = fine_tuning_choice(ranking, tests)
    print(f"study: {why}")
    fine_tuning = fine_tune(runner, variant, options)
    return study_results(args.grid, split_seed, histories, split_histories, chosen, fine_tuning)


def run_tuned_study(args, runner, options, tuned, split_seed, settings):
    """Run every family's trials and fixed 0.001, pick each family's winner on validation,
    rerun the winners and fixed 0.001 on other split seeds and fine-tune the best winner; the
    raw results (results.py)."""
    runner.run_variants(args.grid, list(options.items()))
    finished = succeeded(list(options))
    if BASELINE not in finished:
        raise UserError(f"{BASELINE} did not finish; see the logs above")
    histories = read_histories(finished)
    trials = {
        family: [name for name in names if name in finished]
        for family, names in tuned["trials"].items()
    }
    summaries, _ = analyse(histories, settings)
    winners, reference = select_winners(summaries, trials)
    print(f"study: winners on validation: {', '.join(winners.values())}; best {reference}")
    chosen = list(dict.fromkeys([BASELINE, *winners.values()]))
    split_histories = rerun_on_splits(args, runner, chosen, options, split_seed)
    fine_tuning = fine_tune(runner, reference, options)
    return study_results(
        args.grid,
        split_seed,
        histories,
        split_histories,
        chosen,
        fine_tuning,
        {**tuned, "trials": trials},
    )


def run_finetuning_study(args, config, families):
    """Run every fine-tuning variant (and params.yaml's, the reference) through `finetune` and
    `evaluate`; the raw results (finetuning.py)."""
    variants, reference = finetuning_variants(args.grid, families, config.finetune, GRIDS_FILE)
    options = {name: variant.arguments() for name, variant in variants.items()}
    with variant_runner(args) as runner:
        if args.shard:
            return run_shard(args.grid, runner, options, args.shard, FINETUNING_TARGETS)
        started = time.monotonic()
        runner.run_variants(args.grid, list(options.items()), FINETUNING_TARGETS)
    print(f"study: the fine-tuning runs took {time.monotonic() - started:.0f} s")
    finished = succeeded(list(options))
    if reference not in finished:
        raise UserError(f"{reference}, the reference, did not finish; see the logs above")
    runs = read_finetuning_runs(finished)
    return finetuning_results(args.grid, reference, runs, variants)


def tuned_record(variants, trials):
    """What a tuned grid's results keep of its design: the budget, each family's trials and
    optimizer, every variant's schedule values."""
    by_name = dict(variants)
    return {
        "budget": len(next(iter(trials.values()))),
        "trials": trials,
        "settings": {name: dict(variant.schedule.values) for name, variant in variants},
        "optimizers": {
            family: by_name[names[0]].train.optimizer for family, names in trials.items()
        },
    }


def run_grid(args, config):
    """Run the grid's experiments; their raw results (results.py), or None for a shard."""
    families = read_grids(GRIDS_FILE).get(args.grid)
    if is_finetuning(families):
        return run_finetuning_study(args, config, families)
    variants, trials = grid_variants(
        args.grid, config.head.epochs, config.train, trials=args.trials
    )
    options = {name: variant.arguments() for name, variant in variants}
    split_seed, settings = config.split.seed, config.verdicts
    with variant_runner(args) as runner:
        if args.shard:
            return run_shard(args.grid, runner, options, args.shard)
        if trials:
            tuned = tuned_record(variants, trials)
            return run_tuned_study(args, runner, options, tuned, split_seed, settings)
        return run_study(args, runner, options, split_seed, settings)


@reports_study_errors
def main(argv=None):
    args = parse_arguments(argv)
    config = load_config()
    check_pages(args.page, args.grid)
    if args.reanalyse:
        results = read_results(args.grid)
    else:
        results = run_grid(args, config)
        if results is None:
            return
        write_results(results)
    print(publish(results, config.verdicts, args.page), end="")
    print(
        f"study: figures in {study_plots(args.grid)}/, table in {study_table(args.grid)}.md, "
        f"from the runs in {runs_file(args.grid)}"
    )
