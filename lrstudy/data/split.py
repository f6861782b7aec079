"""A stratified, seeded train/val/test split of data/raw, written as manifests (stage `split`).

Each class is shuffled with its own seed derived from `split.seed` and the class name, so
adding a class leaves the other classes' splits as they were. A class too small to give at
least one image to every split is kept in train only, and named in metrics/split.json.
Images are not copied: the manifests (lrstudy/data/manifests.py) list them.
"""

import math
import random
from pathlib import Path

from lrstudy.params import MAX_SEED, ParamError, number
from lrstudy.paths import SPLITS


def split_settings(params):
    val = number(params, "split.val", minimum=0, maximum=1)
    test = number(params, "split.test", minimum=0, maximum=1)
    if val + test >= 1:
        raise ParamError("split.val + split.test", val + test, "< 1, so that train keeps images")
    seed = number(params, "split.seed", minimum=0, maximum=MAX_SEED, integer=True)
    return val, test, seed


def split_counts(size, val, test):
    """(train, val, test) sizes of a class; None if it cannot give an image to every split."""
    wanted = [fraction > 0 for fraction in (val, test)]
    if size < 1 + sum(wanted):
        return None
    n_val, n_test = (
        max(int(w), math.floor(size * fraction + 0.5))
        for w, fraction in zip(wanted, (val, test), strict=True)
    )
    while size - n_val - n_test < 1:  # rounding up both may leave train empty
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return size - n_val - n_test, n_val, n_test


def stratified_split(files_by_class, val, test, seed):
    """({split: [(path, label)]}, [classes kept in train only]) for {label: [paths]}."""
    splits = {name: [] for name in SPLITS}
    train_only = []
    for label in sorted(files_by_class):
        paths = sorted(files_by_class[label])
        random.Random(f"{seed}/{label}").shuffle(paths)
        counts = split_counts(len(paths), val, test)
        if counts is None:
            train_only.append(label)
            counts = (len(paths), 0, 0)
        start = 0
        for name, count in zip(SPLITS, counts, strict=True):
            splits[name] += [(path, label) for path in sorted(paths[start : start + count])]
            start += count
    return splits, train_only


def files_by_class(raw_dir):
    return {
        folder.name: [
            path.relative_to(raw_dir).as_posix() for path in folder.rglob("*") if path.is_file()
        ]
        for folder in sorted(Path(raw_dir).iterdir())
        if folder.is_dir()
    }


def split_report(splits, classes, train_only):
    """metrics/split.json: images per split, per class and split; classes kept in train only."""
    per_class = {
        label: {
            name: sum(1 for _, row_label in splits[name] if row_label == label) for name in SPLITS
        }
        for label in classes
    }
    return {
        "images": {name: len(rows) for name, rows in splits.items()},
        "train_only_classes": train_only,
        "images_per_class": per_class,
    }
