"""Where the stages read and write (paths relative to the repository root)."""

import contextlib
import csv
import json
import os
import shutil
from pathlib import Path

from lrstudy.errors import UserError

RAW_DIR = Path("data/raw")
SPLIT_DIR = Path("data/split")
CLASSES_FILE = SPLIT_DIR / "classes.json"
FEATURES_DIR = Path("data/features")
MODELS_DIR = Path("data/models")
METRICS_DIR = Path("metrics")
PLOTS_DIR = Path("plots")
SPLITS = ("train", "val", "test")


def manifest_path(split):
    return SPLIT_DIR / f"{split}.csv"


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


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary sibling of `path` (file or folder) to write; once the block ends without
    an error, it takes `path`'s place with one rename, so an interrupted stage never leaves a
    half-written output. The name keeps the suffix (Keras insists on `.keras`)."""
    path = Path(path)
    partial = path.with_name(f".partial-{path.name}")
    shutil.rmtree(partial) if partial.is_dir() else partial.unlink(missing_ok=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    yield partial
    if path.is_dir():  # a folder cannot be swapped in one rename: the gap only ever lacks it
        shutil.rmtree(path)
    os.replace(partial, path)


def write_json(path, data):
    """Stable, diff-friendly JSON (sorted keys would reorder per-class tables, so no sort)."""
    with atomic_output(path) as partial:
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def replace_marked_block(path, marker, text):
    """Put `text` between the lines `<!-- marker:start -->` and `<!-- marker:end -->` of a file
    (a README's generated section); refuses a file without them."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    content = Path(path).read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise UserError(f"{path} has no `{start}` ... `{end}` block to update")
    before, rest = content.split(start, 1)
    with atomic_output(path) as partial:
        partial.write_text(before + start + "\n" + text + rest[rest.index(end) :], encoding="utf-8")


def write_table(stem, rows, notes=()):
    """rows (dicts with the same keys) as stem.md and stem.csv, the markdown followed by `notes`
    (paragraphs); returns the markdown."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows]
    markdown = "\n\n".join(["\n".join(lines), *notes]) + "\n"
    stem = Path(stem)
    with atomic_output(stem.with_suffix(".md")) as partial:
        partial.write_text(markdown, encoding="utf-8")
    with (
        atomic_output(stem.with_suffix(".csv")) as partial,
        open(partial, "w", newline="", encoding="utf-8") as file,
    ):
        writer = csv.DictWriter(file, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return markdown
