"""The datasets the stages hand on, and how each reads back:

- data/raw/<class>/<image>: the images `fetch` kept, each decoded as `decode_image` does;
- data/split/: `split`'s manifests {training,validation,test}.csv (`path,label`, paths relative
  to data/raw) and classes.json (the class names, whose order gives the label indices);
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
from lrstudy.core.paths import CLASSES_FILE, FEATURES_DIR, RAW_DIR, manifest_path

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


def write_manifests(folder, splits, classes):
    """data/split's files into `folder` (the stage's partial output): one manifest per split of
    {split: [(path, label)]}, and classes.json."""
    for name, rows in splits.items():
        with open(
            Path(folder) / manifest_path(name).name, "w", newline="", encoding="utf-8"
        ) as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(["path", "label"])
            writer.writerows(rows)
    write_json(Path(folder) / CLASSES_FILE.name, classes)


def read_classes():
    return json.loads(CLASSES_FILE.read_text(encoding="utf-8"))


def read_manifest(split):
    """(paths relative to data/raw, class names) of one split."""
    with open(manifest_path(split), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [row["path"] for row in rows], [row["label"] for row in rows]


def read_split(split):
    """(paths relative to data/raw, label indices into classes.json) of one split."""
    paths, labels = read_manifest(split)
    index = {name: position for position, name in enumerate(read_classes())}
    return paths, [index[label] for label in labels]


def write_features(folder, paths, features, info):
    """The feature cache into `folder` (the stage's partial output): one row per path."""
    np.save(Path(folder) / FEATURES_FILE, np.asarray(features, np.float32))
    write_json(Path(folder) / IMAGES_FILE, list(paths))
    write_json(Path(folder) / INFO_FILE, {**info, "images": len(paths)})


def split_features(split):
    """(features, labels) of one split: the cache's rows of its images, in the manifest's order."""
    paths, labels = read_split(split)
    row_of = {path: row for row, path in enumerate(read_json(FEATURES_DIR / IMAGES_FILE))}
    if missing := [path for path in paths if path not in row_of]:
        raise UserError(
            f"{FEATURES_DIR} has no features of {missing[0]} (and {len(missing) - 1} more "
            f"{split} images): it is older than data/raw; run `dvc repro features`"
        )
    cache = np.load(FEATURES_DIR / FEATURES_FILE, mmap_mode="r")
    rows = np.array([row_of[path] for path in paths], np.int64)
    return np.array(cache[rows], np.float32), np.array(labels, np.int32)
