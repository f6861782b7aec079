"""The whole study in one command: a grid of schedules as `dvc exp` variants, the best fine-tuned.

    python -m lrstudy.study --grid reference [--jobs auto | --scheduler tcp://HOST:PORT]
                            [--page docs/study.md] [--reanalyse]

1. Brings the shared stages up to date (`dvc repro baseline`: fetch, split, features), then
   queues each variant of the grid in study.yaml (grid.py) that has not succeeded yet:
   `dvc exp run --queue -n exp-lr0.01-k0.3 -S schedule.name=exp ... train` (runner.py). A
   variant that failed in an earlier study is removed from the queue and queued again; one an
   earlier study left queued or running is waited for.
2. Runs the queue (`dvc queue start --jobs N`, one variant per CPU core by default) and waits,
   with a progress bar, until every variant has succeeded or failed (or, with one line saying
   which, until nothing can change any more); a failed variant's log is printed and the others
   go on.
3. Reads every variant's per-seed curves (metrics/train/repeats.json) and tests each against
   the baseline, fixed 0.001, paired over seeds (sign-flip permutation test, Benjamini-Hochberg
   over the grid; analysis.py). Picks the best variant by mean final validation accuracy (ties:
   lower mean final validation loss) and runs the whole pipeline with its params as the
   experiment `<variant>-finetuned`: its `train` again (seconds, the same heads), then
   finetune, evaluate (with McNemar's test of fine-tuning) and report.
4. Keeps the raw results, every variant's validation curves per seed, those of the reruns on
   other splits and the fine-tuned run's, in metrics/study-<grid>-runs.json (results.py), and
   writes from that file alone (publish.py) the comparison: plots/study-<grid>/ (figures.py:
   per family, every variant's mean validation accuracy and loss with a ± 1 std band; the best
   of each family against fixed 0.001, continued by the fine-tuned best; every variant's final
   accuracy with its 95 % interval) and metrics/study-<grid>.{md,csv} (all variants, best
   first, then the verdicts).

With `--scheduler tcp://HOST:PORT` the variants of steps 1-3 (the grid, the split reruns, the
fine-tuning) run as tasks of a Dask scheduler's workers instead of on this machine's queue, from
HEAD's commit on the git remote, and come back through the git and DVC remotes (cluster.py).

A tuned grid (study.yaml's `tuned`: a budget and a search space per family) draws each
family's trials (sampling.py), picks each family's winner on validation, judges the winners on
the test split, reruns them on other splits and fine-tunes the best (tuning.py). Its space may
be keyed by optimizers (`optimizers`): each family is then an optimizer with a schedule, and
each optimizer at its best is judged against Adam at its best.

A fine-tuning grid (study.yaml's `finetuning`: only a `finetune` key) runs each
`finetune.schedule.*` through `finetune` and `evaluate` and tests each against params.yaml's,
image by image with McNemar's test (finetuning.py).

Re-running it with nothing changed trains nothing: experiments that succeeded are reused by
name. `--reanalyse` runs nothing at all: it rebuilds step 4 from the committed runs file, so a
change to the analysis reaches every published table without a single experiment.
"""
