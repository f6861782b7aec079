"""The datasets the stages hand on, and how each reads back:

- data/raw/<class>/<image>: the images `fetch` kept, each decoded as `decode_image` does;
- data/split/: `split`'s manifests {training,validation,test}.csv (`path,label`, paths relative
  to data/raw) and classes.json (the class names, whose order gives the label indices); the
  same three manifests of each of the study's folds in folds/<n>/;
- data/features/: `features`' cache, one row per image of data/raw whatever the split:
  features.npy (float32), images.json (the image of each row) and info.json (the backbone, its
  image size and feature width). A split's rows are taken by path, so another split seed reuses
  the cache, and a head trained on the rows is the same computation as image -> frozen
  backbone -> head, without paying for the backbone on every epoch of every experiment.
"""

import csv
import json
from pathlib import Path

import numpy as np

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import read_json, write_json
from lrstudy.core.paths import CLASSES_FILE, FEATURES_DIR, RAW_DIR, SPLIT_DIR, SPLITS, manifest_path

FEATURES_FILE, IMAGES_FILE, INFO_FILE = "features.npy", "images.json", "info.json"


def raw_images(raw_dir=RAW_DIR):
    """{class: [image paths relative to raw_dir, sorted]} of every class folder."""
    return {
        folder.name: sorted(
            path.relative_to(raw_dir).as_posix() for path in folder.rglob("*") if path.is_file()
        )
        for folder in sorted(Path(raw_dir).iterdir())
        if folder.is_dir()
    }


def decode_image(path):
    """An image file as the backbone gets it: TensorFlow's decoding to 8-bit RGB (alpha dropped,
    an animation's first frame). `fetch` checks every image it keeps against it, and the
    features and fine-tuning read images through it (in eager mode or a tf.data map)."""
    import tensorflow as tf  # only here: what imports this module stays light

    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def write_manifests(folder, splits, classes, folds):
    """data/split's files into `folder` (the stage's partial output): one manifest per split of
    {split: [(path, label)]}, classes.json, and each fold's manifests ([{split: rows}])."""
    folder = Path(folder)
    for fold, fold_splits in enumerate([splits, *folds]):
        where = folder / manifest_path("test", fold or None).parent.relative_to(SPLIT_DIR)
        where.mkdir(parents=True, exist_ok=True)
        for name, rows in fold_splits.items():
            with open(where / f"{name}.csv", "w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file, lineterminator="\n")
                writer.writerow(["path", "label"])
                writer.writerows(rows)
    write_json(folder / CLASSES_FILE.name, classes)


def read_classes():
    return json.loads(CLASSES_FILE.read_text(encoding="utf-8"))


def read_manifest(split, fold=None):
    """(paths relative to data/raw, class names) of one split (of fold `fold`)."""
    with open(manifest_path(split, fold), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [row["path"] for row in rows], [row["label"] for row in rows]


def read_split(split, fold=None):
    """(paths relative to data/raw, label indices into classes.json) of one split (of fold
    `fold`)."""
    paths, labels = read_manifest(split, fold)
    index = {name: position for position, name in enumerate(read_classes())}
    return paths, [index[label] for label in labels]


def write_features(folder, paths, features, info):
    """The feature cache into `folder` (the stage's partial output): one row per path."""
    np.save(Path(folder) / FEATURES_FILE, np.asarray(features, np.float32))
    write_json(Path(folder) / IMAGES_FILE, list(paths))
    write_json(Path(folder) / INFO_FILE, {**info, "images": len(paths)})


def cached_features(paths, where):
    """The feature cache's rows of `paths`, in their order (`where`: what they are, for the
    message when the cache lacks one)."""
    row_of = {path: row for row, path in enumerate(read_json(FEATURES_DIR / IMAGES_FILE))}
    if missing := [path for path in paths if path not in row_of]:
        raise UserError(
            f"{FEATURES_DIR} has no features of {missing[0]} (and {len(missing) - 1} more "
            f"{where} images): it is older than data/raw; run `dvc repro features`"
        )
    cache = np.load(FEATURES_DIR / FEATURES_FILE, mmap_mode="r")
    rows = np.array([row_of[path] for path in paths], np.int64)
    return np.array(cache[rows], np.float32)


def split_features(split):
    """(features, labels) of one split: the cache's rows of its images, in the manifest's order."""
    paths, labels = read_split(split)
    return cached_features(paths, split), np.array(labels, np.int32)


def fold_count():
    """How many folds `split` wrote (data/split/folds/1, 2, ...)."""
    return sum(1 for _ in manifest_path("test", 1).parent.parent.glob("*/test.csv"))


def fold_features():
    """(features, labels, folds) of the study's folds: every image of their manifests once, a
    row of `features` with its label index, and per fold {split: its images' rows}."""
    manifests = [
        {split: read_split(split, fold) for split in SPLITS} for fold in range(1, fold_count() + 1)
    ]
    labels = {
        path: label
        for fold in manifests
        for paths, indices in fold.values()
        for path, label in zip(paths, indices, strict=True)
    }
    paths = sorted(labels)
    row_of = {path: row for row, path in enumerate(paths)}
    folds = [
        {
            split: np.array([row_of[path] for path in rows], np.int32)
            for split, (rows, _) in fold.items()
        }
        for fold in manifests
    ]
    features = cached_features(paths, "fold")
    return features, np.array([labels[path] for path in paths], np.int32), folds
