"""The split's manifests: data/split/{train,val,test}.csv (`path,label`, paths relative to
data/raw) and data/split/classes.json (the class names, whose order gives the label indices)."""

import csv
import json
from pathlib import Path

from lrstudy.atomic import write_json
from lrstudy.paths import CLASSES_FILE, manifest_path


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


def read_manifest(split):
    """(paths relative to data/raw, class names) of one split."""
    with open(manifest_path(split), newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return [row["path"] for row in rows], [row["label"] for row in rows]


def read_classes():
    return json.loads(CLASSES_FILE.read_text(encoding="utf-8"))


def read_split(split, classes):
    """(paths relative to data/raw, label indices into `classes`) of one split."""
    paths, labels = read_manifest(split)
    return paths, [classes.index(label) for label in labels]
