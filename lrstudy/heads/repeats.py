"""A head trained once per seed (`head.repeats` of them, all in one graph:
lrstudy/heads/training.py), so that every figure carries its spread: the stages `baseline` and
`train`. Then once per fold and seed of the study's folds (data/split/folds/), so that every
image is tested once: metrics/<stage>/folds.json.

Seeds head.seed, head.seed + 1, ... each give the head its initial weights and batch order.
Runs with the same seed (and fold) in two experiments share both, so the study compares them in
pairs.
"""

import math
import time

import numpy as np

from lrstudy.core.datasets import fold_features, read_classes, split_features
from lrstudy.core.outputs import (
    bits_text,
    compact_json,
    keep_in_summary,
    log_epoch,
    open_live,
    write_json,
    write_model,
    write_text,
)
from lrstudy.core.paths import folds_file, logs_dir, model_file, repeats_file, time_file
from lrstudy.heads.training import build_head, fit_fold_heads, fit_heads
from lrstudy.statistics import curve_band, per_seed_results, summarize

HISTORY_DIGITS = 7  # significant: float32 precision, and repeats.json stays small
# A loss this many times a uniform guess's, ln(classes), has exploded even while it is still a
# number: Adam at a rate of 1e25 reaches a validation loss of about 1e26 at 82 % accuracy.
LOSS_LIMIT = 100


def cut_exploded(curves, classes, keys=("loss", "val_loss")):
    """`curves` ({key: (heads, epochs)}) with each head's losses (`keys`) set to NaN from the
    first epoch where one of them is no number or above LOSS_LIMIT x ln(classes): from there
    the head counts as diverged."""
    limit = LOSS_LIMIT * math.log(max(classes, 2))
    losses = {key: np.asarray(curves[key], dtype=float) for key in keys}
    sane = np.logical_and.reduce([loss <= limit for loss in losses.values()])
    exploded = np.cumsum(~sane, axis=1) > 0
    return {**curves, **{key: np.where(exploded, np.nan, loss) for key, loss in losses.items()}}


def divergence(history):
    """Per seed, the first epoch (0-based) from which its training or validation loss is no
    longer a finite number (null in `history`), or None where it never diverged."""
    losses = (np.asarray(history[key], dtype=float) for key in ("loss", "val_loss"))
    finite = np.logical_and(*map(np.isfinite, losses))
    return [None if run.all() else int(np.argmin(run)) for run in finite]


def as_json(runs):
    """Curves as JSON holds them: significant digits of float32, null where not a number."""
    return [
        [float(f"{value:.{HISTORY_DIGITS}g}") if np.isfinite(value) else None for value in run]
        for run in runs
    ]


def final_test_accuracy(heads, test):
    """Each seed's final head's accuracy on the test split: recorded for the study's judgement,
    never selected on (it stays out of metrics.json and `dvc exp show`)."""
    features, labels = test
    _, accuracy = heads.evaluate(features, labels)
    return as_json([accuracy.numpy()])[0]


def log_repeats(stage, seeds, history, test_accuracy):
    """dvclive logs of the repeats in metrics/<stage>/: per-epoch mean curves (and their
    standard deviation over seeds, `<metric>_std`) for `dvc plots`, and in metrics.json the
    final validation accuracy's mean and standard deviation over seeds and how many seeds
    diverged (and dvclive's `step`): what `dvc exp show` lists. repeats.json keeps every seed's
    curves, from which the report and the study test differences, the epoch each seed
    diverged from, and each seed's final test accuracy. Returns each seed's final and best
    figures, and the divergence list."""
    bands = {key: curve_band(runs) for key, runs in history.items()}
    diverged = divergence(history)
    # A diverged head's predictions come from weights that are no numbers: no accuracy.
    test_accuracy = [
        None if gone is not None else value
        for value, gone in zip(test_accuracy, diverged, strict=True)
    ]
    with open_live(logs_dir(stage)) as live:
        for epoch in range(len(history["loss"][0])):
            logs = {key: mean[epoch] for key, (mean, _) in bands.items()}
            logs |= {f"{key}_std": std[epoch] for key, (_, std) in bands.items()}
            del logs["learning_rate_std"]  # the same rate for every seed
            log_epoch(live, logs)
        results = per_seed_results(history)
        final = summarize(results["final_val_accuracy"])
        keep_in_summary(
            live,
            {
                "final_val_accuracy": {"mean": final["mean"], "std": final["std"]},
                "diverged_seeds": sum(epoch is not None for epoch in diverged),
            },
        )
    write_json(
        repeats_file(stage),
        {"seeds": seeds, "history": history, "diverged": diverged, "test_accuracy": test_accuracy},
    )
    return results, diverged


def warn_diverged(stage, seeds, diverged):
    gone = [(seed, epoch) for seed, epoch in zip(seeds, diverged, strict=True) if epoch is not None]
    if gone:
        print(
            f"{stage}: warning: seeds {', '.join(str(seed) for seed, _ in gone)} ({len(gone)} of "
            f"{len(seeds)}) diverged from epoch {min(epoch for _, epoch in gone) + 1}: their loss "
            f"is no longer a number, or above {LOSS_LIMIT} times a uniform guess's (null in "
            "repeats.json from there); lower the learning rate"
        )


def train_folds(stage, rate, settings, train, num_classes):
    """Fit the head once per fold (those data/split/folds/ holds) and seed, as train_repeats
    does once per seed; write metrics/<stage>/folds.json: per head (fold-major), its validation
    loss and images right per epoch, and whether its final head is right on each of its fold's
    test images (null where the head diverged). Returns the number of folds."""
    data = fold_features()
    desc = f"{stage}: {len(data[2])} folds x {settings.repeats} seeds"
    curves, hits = fit_fold_heads(rate, settings, train, settings.seeds, data, num_classes, desc)
    curves = cut_exploded(curves, num_classes, keys=("val_loss",))
    sizes = {split: [len(fold[split]) for fold in data[2]] for split in ("validation", "test")}
    loss = as_json(curves["val_loss"])
    right = [
        None
        if run[-1] is None
        else bits_text(hits[head, : sizes["test"][head // settings.repeats]])
        for head, run in enumerate(loss)
    ]
    record = {
        "seeds": settings.seeds,
        "images": {"training": len(data[2][0]["training"]), **sizes},
        "val_loss": loss,
        "val_right": curves["val_right"].astype(int).tolist(),
        "test_right": right,
    }
    write_text(folds_file(stage), compact_json(record) + "\n")
    return len(data[2])


def train_repeats(stage, model, rate, settings, train):
    """Fit the head once per seed of `settings` (the HeadConfig) with the optimizer of `train`
    (the TrainConfig) at the learning rate `rate(epoch)`; log the repeats to metrics/<stage>/
    and save the first seed's head as data/models/<model>.keras (the one fine-tuning
    continues)."""
    training, num_classes = split_features("training"), len(read_classes())
    started = time.perf_counter()
    heads, curves = fit_heads(
        rate,
        settings,
        train,
        settings.seeds,
        training,
        split_features("validation"),
        num_classes,
        desc=f"{stage}: {settings.repeats} seeds",
    )
    training_s = time.perf_counter() - started
    head = build_head(training[0].shape[1], num_classes, settings.dropout)
    head.get_layer("classifier").set_weights(heads.head_weights(0))
    write_model(head, model_file(model))

    curves = cut_exploded(curves, num_classes)
    history = {key: as_json(runs) for key, runs in curves.items()}
    test_accuracy = final_test_accuracy(heads, split_features("test"))
    results, diverged = log_repeats(stage, settings.seeds, history, test_accuracy)
    writing_s = time.perf_counter() - started - training_s
    folds = train_folds(stage, rate, settings, train, num_classes)
    folds_s = time.perf_counter() - started - training_s - writing_s
    write_json(
        time_file(stage),
        {
            "wall_time_s": round(training_s, 2),
            "writing_s": round(writing_s, 2),
            "folds_s": round(folds_s, 2),
        },
    )
    final, best = (summarize(results[key]) for key in ("final_val_accuracy", "best_val_accuracy"))
    print(
        f"{stage}: final val accuracy {final['mean']:.4f} (std {final['std'] or 0:.4f}) over "
        f"{settings.repeats} seeds, best {best['mean']:.4f}; trained in {training_s:.1f} s, "
        f"then {folds} folds x {settings.repeats} seeds in {folds_s:.1f} s"
    )
    warn_diverged(stage, settings.seeds, diverged)
