"""A stratified, seeded training/validation/test split of data/raw (stage `split`).

Each class is shuffled with its own seed derived from `split.seed` and the class name, so
adding a class leaves the other classes' splits as they were. A class too small to give at
least one image to every split is kept in the training split only, and named in
metrics/split.json; a split whose validation or test set ends up empty is refused. Images are
not copied: the manifests (lrstudy/core/datasets.py) list them.
"""

import math
import random

from lrstudy.core.errors import UserError
from lrstudy.core.paths import SPLITS


def split_counts(size, validation, test):
    """(training, validation, test) sizes of a class; None if it cannot give an image to every
    split."""
    wanted = [fraction > 0 for fraction in (validation, test)]
    if size < 1 + sum(wanted):
        return None
    n_validation, n_test = (
        max(int(w), math.floor(size * fraction + 0.5))
        for w, fraction in zip(wanted, (validation, test), strict=True)
    )
    while size - n_validation - n_test < 1:  # rounding up both may leave training empty
        if n_validation >= n_test:
            n_validation -= 1
        else:
            n_test -= 1
    return size - n_validation - n_test, n_validation, n_test


def stratified_split(images_by_class, settings):
    """({split: [(path, label)]}, [classes kept in training only]) for {label: [paths]}, as
    `settings` (the SplitConfig) asks."""
    splits = {name: [] for name in SPLITS}
    training_only = []
    for label in sorted(images_by_class):
        paths = sorted(images_by_class[label])
        random.Random(f"{settings.seed}/{label}").shuffle(paths)
        counts = split_counts(len(paths), settings.validation, settings.test)
        if counts is None:
            training_only.append(label)
            counts = (len(paths), 0, 0)
        start = 0
        for name, count in zip(SPLITS, counts, strict=True):
            splits[name] += [(path, label) for path in sorted(paths[start : start + count])]
            start += count
    return splits, training_only


def refuse_empty(splits, training_only):
    """A UserError when the validation or test split holds no image: with every split fraction
    above 0, that happens when every class is too small to give one image to each split."""
    empty = [name for name in SPLITS[1:] if not splits[name]]
    if empty:
        raise UserError(
            f"the split leaves no {' and no '.join(empty)} images: every class is too small to "
            f"give one to each split (it takes {len(SPLITS)} images; {', '.join(training_only)} "
            "are kept in training only); add images, or use a dataset with larger classes"
        )


def split_report(splits, classes, training_only):
    """metrics/split.json: images per split, per class and split; classes kept in training
    only."""
    per_class = {
        label: {
            name: sum(1 for _, row_label in splits[name] if row_label == label) for name in SPLITS
        }
        for label in classes
    }
    return {
        "images": {name: len(rows) for name, rows in splits.items()},
        "training_only_classes": training_only,
        "images_per_class": per_class,
    }
