"""The whole study in one command: a grid of study.yaml as `dvc exp` variants, each tested
against the baseline, the best fine-tuned.

    python -m lrstudy.study --grid reference [--jobs auto [--queue] | --scheduler tcp://HOST:PORT]
                            [--page docs/study.md] [--reanalyse | --calibrate]

1. Reads the grid from study.yaml (grids.py) and builds it by its kind (kinds/: a list grid, a
   tuned grid with a budget and search spaces, a grid of fine-tuning schedules), every variant
   checked as params.yaml is before anything runs (variants.py). The baseline comes from
   params.yaml: `baseline.lr`, trained by `train.optimizer`, named as every variant is
   (fixed-lr0.001 for Adam).
2. Runs the variants that have not succeeded yet on a runner, each as
   `dvc exp run -n exp-lr0.01-k0.3 -S schedule.name=exp ... train`: on this machine in
   checkouts of the project kept for the next variants (checkouts.py, one variant per CPU core
   by default, after `dvc repro baseline`), its experiment pushed into the project; with
   `--queue`, on DVC's experiment queue (queue.py); with `--scheduler`, on a Dask scheduler's
   workers (cluster.py: from HEAD's commit on the git remote, back through the git and DVC
   remotes). A variant that failed or was interrupted in an earlier study runs again; a failed
   variant's log is printed and the others go on.
3. Analyses the runs as its kind does: a grid of heads, every variant trained on every fold and
   seed (folds.py), compares each variant with the baseline over the test images and the seeds
   (analysis.py, lrstudy/inference.py: better or worse beyond the margin, equivalent within
   it, or not resolved; Benjamini-Hochberg over the grid), answers the reference reports'
   claims (claims.py) and fine-tunes the one its rule picks as `<variant>-finetuned`
   (finetuned.py); a tuned grid chooses each family's winner on each fold's validation and
   judges it on that fold's test images; a grid of fine-tuning schedules tests each image by
   image.
4. Keeps the raw results, with the kind, the baseline and what each variant is, in
   metrics/study-<grid>-runs.json (results.py), and from that file alone the kind writes
   metrics/study-<grid>.{md,csv}, plots/study-<grid>/ (figures.py) and the --page blocks.

Re-running it with nothing changed trains nothing: experiments that succeeded are reused by
name. `--reanalyse` runs nothing at all: it repeats step 4 from the committed runs file, so a
change to the analysis reaches every published table without a single experiment;
`--calibrate` checks the inference on the committed runs (calibration.py).
"""
