"""The whole study in one command: a grid of schedules as `dvc exp` variants, the best fine-tuned.

    python -m lrstudy.study --grid reference [--jobs 2] [--page docs/study.md]

1. Brings the shared stages up to date (`dvc repro baseline`: fetch, split, features), then
   queues each variant of the grid in study.yaml (grid.py) that has no experiment yet:
   `dvc exp run --queue -n exp-lr0.01-k0.3 -S schedule.name=exp ... train` (runner.py).
2. Runs the queue (`dvc queue start`) and waits, with a progress bar; a failed variant's log is
   printed and the others go on.
3. Reads every variant's per-seed curves (metrics/train/repeats.json) and tests each against
   the baseline, fixed 0.001, paired over seeds (sign-flip permutation test, Benjamini-Hochberg
   over the grid; analysis.py). Picks the best variant by mean final validation accuracy (ties:
   lower mean final validation loss) and runs the whole pipeline with its params as the
   experiment `<variant>-finetuned`: DVC's run-cache restores its `train`, then finetune,
   evaluate (with McNemar's test of fine-tuning) and report run.
4. Writes the comparison: plots/study-<grid>/ (figures.py: per family, every variant's mean
   validation accuracy and loss with a ± 1 std band; the best of each family against fixed
   0.001, continued by the fine-tuned best; every variant's final accuracy with its 95 %
   interval) and metrics/study-<grid>.{md,csv} (all variants, best first, then the verdicts).

Re-running it with nothing changed trains nothing: existing experiments are reused by name.
"""
