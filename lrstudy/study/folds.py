"""A variant's runs on the study's folds (metrics/train/folds.json of its experiment, written by
the stage `train`): what the runs file keeps of them, and the arrays the analysis takes.

Every variant of a grid trains one head per fold and seed on the same folds, so its runs line
up with every other variant's: head (fold, seed) is row `fold * seeds + seed`, and the test
images of fold 1, then fold 2, ... are the columns of its outcomes. The runs file keeps, per
head, whether it got each test image of its fold right (hexadecimal, 8 images to a character
pair), its images right on its fold's validation set per epoch, and its final validation loss;
per epoch, the validation loss's mean and standard deviation over the heads (for the figures).
A head that diverged keeps nulls.
"""

import numpy as np

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import bits_of
from lrstudy.core.paths import folds_file
from lrstudy.experiments import read_experiment_json
from lrstudy.statistics import curve_band

DIGITS = 6  # significant, of the losses kept


def kept(value):
    return None if value is None else float(f"{value:.{DIGITS}g}")


def fold_runs(record):
    """The runs file's record of one experiment's folds.json: (the folds' shape, its runs)."""
    shape = {"seeds": record["seeds"], "images": record["images"]}
    losses = np.array(
        [[np.nan if v is None else v for v in run] for run in record["val_loss"]], dtype=float
    )
    finite = np.isfinite(losses).all(axis=1)
    mean, std = curve_band(losses[finite]) if finite.any() else ([None], [None])
    runs = {
        "test_right": record["test_right"],
        "val_right": record["val_right"],
        "final_val_loss": [kept(run[-1]) for run in record["val_loss"]],
        "val_loss_band": {"mean": [kept(v) for v in mean], "std": [kept(v) for v in std]},
    }
    return shape, runs


def read_fold_runs(names):
    """(the folds' shape, {experiment: its runs}) of the named experiments' `train` stages."""
    return gathered({name: read_experiment_json(folds_file("train"), name) for name in names})


def gathered(records):
    """(the folds' shape, {experiment: its runs}) of {experiment: its folds.json}; one line when
    two were trained on other folds or seeds."""
    shape, runs = None, {}
    for name, record in records.items():
        found, runs[name] = fold_runs(record)
        if shape is not None and found != shape:
            raise UserError(
                f"{name} was trained on other folds or seeds than the grid's other variants "
                f"({found['images']['test']} test images, seeds {found['seeds']}): rerun it"
            )
        shape = found
    return shape, runs


def seeds_of(shape):
    return len(shape["seeds"])


def outcomes(shape, runs, folds=None):
    """(seeds, images) right or wrong of every test image, the folds' side by side; None when a
    head diverged. `folds`: the fold of each row of runs, default every fold's own."""
    seeds, sizes = seeds_of(shape), shape["images"]["test"]
    rows = []
    for fold, size in enumerate(sizes):
        source = runs if folds is None else folds[fold]
        heads = source["test_right"][fold * seeds : (fold + 1) * seeds]
        if None in heads:
            return None
        rows.append(np.array([bits_of(head, size) for head in heads]))
    return np.concatenate(rows, axis=1)


def val_accuracy(shape, runs):
    """(folds, seeds, epochs) validation accuracy of every head per epoch."""
    sizes = np.array(shape["images"]["validation"], dtype=float)
    right = np.array(runs["val_right"], dtype=float)
    return right.reshape(len(sizes), seeds_of(shape), -1) / sizes[:, None, None]


def final_val_loss(shape, runs):
    """(folds, seeds) final validation loss of every head (NaN where it diverged)."""
    losses = [np.nan if value is None else value for value in runs["final_val_loss"]]
    return np.array(losses, dtype=float).reshape(-1, seeds_of(shape))


def diverged(runs):
    """Whether a head of the variant diverged: its final loss is no number."""
    return None in runs["final_val_loss"]
