"""A stratified, seeded training/validation/test split of data/raw (stage `split`), and the
study's folds.

Each class is shuffled with its own seed derived from `split.seed` and the class name, so
adding a class leaves the other classes' splits as they were. A class too small to give at
least one image to every split is kept in the training split only, and named in
metrics/split.json; a split whose validation or test set ends up empty is refused. Images are
not copied: the manifests (lrstudy/core/datasets.py) list them.

The folds (`split.folds` of them) test every image exactly once. Each class is dealt round the
folds from a seeded starting fold, so each fold's test set holds every class in proportion (to
one image). Fold f's validation set comes from its own training side, the images of the other
folds: a stratified share of `split.validation` of all images, plus what makes every fold's
training set the same size, so that the heads of all folds train as one graph, batch for batch
as each would alone (lrstudy/heads/training.py).

`split.training_per_class` (a regime of less data, as Caltech-101's 15 and 30 training images
per class) keeps at most that many training images of each class, in the split and in every
fold; the validation and test images stay as they are, so that a regime's accuracies are
measured on the same images as the full data's.
"""

import math
import random
import zlib

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
            kept = paths[start : start + count]
            if name == "training" and settings.training_per_class is not None:
                kept = kept[: settings.training_per_class]
            splits[name] += [(path, label) for path in sorted(kept)]
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


def split_report(splits, classes, training_only, folds):
    """metrics/split.json: images per split, per class and split; classes kept in training
    only; images per split of each fold."""
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
        "folds": [{name: len(rows) for name, rows in fold.items()} for fold in folds],
    }


def fold_of_each(images_by_class, settings):
    """{(path, label): its test fold, 0-based} of every image: each class shuffled with its own
    seed and dealt round the folds from a fold of its own."""
    folds = {}
    for label in sorted(images_by_class):
        paths = sorted(images_by_class[label])
        random.Random(f"{settings.seed}/folds/{label}").shuffle(paths)
        start = zlib.crc32(f"{settings.seed}/{label}".encode()) % settings.folds
        for index, path in enumerate(paths):
            folds[(path, label)] = (start + index) % settings.folds
    return folds


def stratified_first(rows, count, seed):
    """`count` of `rows` [(path, label)], each class in proportion to its share (to one image):
    every class's rows in a seeded order, each at its quantile in the class, the lowest first."""
    by_class = {}
    for row in sorted(rows):
        by_class.setdefault(row[1], []).append(row)
    keyed = []
    for label, members in by_class.items():
        random.Random(f"{seed}/{label}").shuffle(members)
        keyed += [((rank + 0.5) / len(members), label, row) for rank, row in enumerate(members)]
    return [row for _, _, row in sorted(keyed)[:count]]


def fold_splits(images_by_class, settings):
    """[{split: [(path, label)]}] of each fold: its test fold; a validation set from the other
    folds; the rest, the same number of images in every fold, its training set. A UserError
    when the images are too few for every fold to have one of each."""
    assigned = fold_of_each(images_by_class, settings)
    total = len(assigned)
    sides = [[row for row, fold in assigned.items() if fold != f] for f in range(settings.folds)]
    validation = max(1, math.floor(total * settings.validation + 0.5))
    training = min(map(len, sides)) - validation
    if training < 1 or any(len(side) == total for side in sides):  # no test image
        raise UserError(
            f"{total} images cannot fill {settings.folds} folds with a training, validation and "
            "test image each: lower split.folds or add images"
        )
    splits = []
    for fold, side in enumerate(sides):
        chosen = set(stratified_first(side, len(side) - training, f"{settings.seed}/{fold}"))
        splits.append(
            {
                "training": sorted(row for row in side if row not in chosen),
                "validation": sorted(chosen),
                "test": sorted(row for row, f in assigned.items() if f == fold),
            }
        )
    if settings.training_per_class is not None:
        limit_training(splits, settings.training_per_class, settings.seed)
    return splits


def limit_training(splits, per_class, seed):
    """Keep, of each class, min(`per_class`, what every fold's training set has of it) training
    images in every fold (in a seeded order per fold and class), so that the folds' training
    sets stay the same size; validation and test keep theirs."""
    by_fold = []
    for fold in splits:
        by_class = {}
        for row in fold["training"]:
            by_class.setdefault(row[1], []).append(row)
        by_fold.append(by_class)
    labels = set().union(*by_fold)
    kept = {label: min([per_class, *(len(c.get(label, [])) for c in by_fold)]) for label in labels}
    for fold, (split, by_class) in enumerate(zip(splits, by_fold, strict=True)):
        rows = []
        for label, members in by_class.items():
            random.Random(f"{seed}/{fold}/training/{label}").shuffle(members)
            rows += members[: kept.get(label, 0)]
        split["training"] = sorted(rows)
