"""How the stages write: every output whole or not at all, and the same bytes for the same
content, so that an interrupted stage never leaves a half-written file and a rerun of unchanged
params leaves dvc.lock as it was.

- atomic_output: a temporary sibling, renamed into place once complete (files and folders);
- JSON, tables (Markdown and CSV), figures (PNG) and Keras models written through it;
- dvclive logs: where the per-epoch curves and summaries of a stage go, and how they read back.
"""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np

from lrstudy.core.errors import UserError, reports_full_disk
from lrstudy.core.paths import CURVE_SPLITS, curve_path


def partial_path(path, private=False):
    """The temporary sibling `path` is written as; `private` ones carry the process id, for
    places several processes write at once (the LiteRT cache)."""
    path = Path(path)
    owner = f"{os.getpid()}-" if private else ""
    return path.with_name(f".partial-{owner}{path.name}")


def previous_path(path):
    """Where a folder output waits while its replacement is renamed into place."""
    path = Path(path)
    return path.with_name(f".previous-{path.name}")


def remove(path):
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path, private=False):
    """Yield a temporary sibling of `path` (file or folder) to write; once the block ends without
    an error it takes `path`'s place by renaming, and on an error (or Ctrl-C) it is removed. The
    name keeps the suffix (Keras insists on `.keras`).

    A folder cannot be swapped in one rename: the old one first becomes `previous_path(path)`,
    which `recover(path)` puts back if the process dies between the two renames. A full disk
    while writing is one UserError naming the output."""
    path = Path(path)
    partial = partial_path(path, private)
    remove(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with reports_full_disk(f"writing {path}"):
            yield partial
    except BaseException:
        remove(partial)
        raise
    if partial.is_dir() and path.exists():
        previous = previous_path(path)
        remove(previous)
        os.replace(path, previous)
        os.replace(partial, path)
        remove(previous)
    else:
        os.replace(partial, path)


def recover(path):
    """Put back a folder output that a kill between atomic_output's two renames left aside."""
    previous = previous_path(path)
    if not Path(path).exists() and previous.exists():
        os.replace(previous, path)


def remove_output(path):
    """Remove an output with whatever an interrupted write left of it."""
    for leftover in (path, partial_path(path), previous_path(path)):
        remove(leftover)


def write_text(path, text):
    with atomic_output(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_json(path, data):
    """Stable, diff-friendly JSON (sorted keys would reorder per-class tables, so no sort)."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_utf8(path):
    """The text of the file at `path`, one line naming it where it is not UTF-8 (a missing
    file's FileNotFoundError passes through)."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path} is not UTF-8 text (byte {error.start})") from None


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def compact_json(data):
    """JSON with each list of numbers (a curve, a seed's values) on one line: long records stay
    small and their diffs readable. NaN is refused: JSON has none."""
    text = json.dumps(data, indent=1, allow_nan=False)
    return re.sub(r'\[[^\[\]{}"]*\]', lambda match: json.dumps(json.loads(match[0])), text)


def bits_text(flags):
    """Yes/no flags (a model right or wrong on each image) as hexadecimal text, 8 to a byte."""
    return np.packbits(np.asarray(flags, dtype=bool)).tobytes().hex()


def bits_of(text, count):
    """The `count` flags that `bits_text` wrote."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), np.uint8))[:count].astype(bool)


TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what an HTML tag or comment starts with


def inert_html(text):
    """`text` with every `<` that could open an HTML tag written as `&lt;`, so that a name
    read from a file shows as text on a rendered page ("p < 0.05" is left as it is)."""
    return TAG_START.sub("&lt;", text)


def markdown_table(rows):
    """rows (dicts with the same keys) as a Markdown table, one column per key, inert_html."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows]
    return inert_html("\n".join(lines))


def write_table(stem, rows, notes=()):
    """rows (dicts with the same keys) as stem.md and stem.csv, the Markdown followed by
    `notes` (paragraphs), all inert_html; returns the Markdown."""
    markdown = "\n\n".join([markdown_table(rows), *map(inert_html, notes)]) + "\n"
    stem = Path(stem)
    write_text(stem.with_suffix(".md"), markdown)
    table = io.StringIO()
    writer = csv.DictWriter(table, list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(stem.with_suffix(".csv"), table.getvalue())
    return markdown


def write_figure(figure, path, dpi=100):
    """A matplotlib figure as PNG, then closed. Without the `Software` tag the bytes depend only
    on the figure, not on the matplotlib version, so a rerun commits no spurious change."""
    import matplotlib.pyplot as plt

    with atomic_output(path) as partial:
        figure.savefig(partial, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry
UNIX = 3  # the zip's "made by" system: the same bytes whatever system saves


def renumber_shared_objects(config, numbers=None):
    """`config` with every `shared_object_id` replaced by 1, 2, ... in order of appearance."""
    numbers = {} if numbers is None else numbers
    if isinstance(config, list):
        return [renumber_shared_objects(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    return {
        key: numbers.setdefault(value, len(numbers) + 1)
        if key == "shared_object_id"
        else renumber_shared_objects(value, numbers)
        for key, value in config.items()
    }


def reproducible_members(members):
    """[(name, bytes, compress_type)] of a .keras zip without the save time or addresses."""
    cleaned = []
    for name, data, compress_type in members:
        if name == "metadata.json":
            metadata = json.loads(data)
            metadata.pop("date_saved", None)
            data = json.dumps(metadata).encode()
        elif name == "config.json":
            data = json.dumps(renumber_shared_objects(json.loads(data))).encode()
        cleaned.append((name, data, compress_type))
    return cleaned


def save_model(model, path):
    """`model.save(path)`, then its zip rewritten so that equal weights give equal bytes.

    A `.keras` file is a zip of metadata.json, config.json and model.weights.h5. Keras writes
    the clock into it twice (`date_saved`, the members' times) and the memory address of each
    object that layers share (`shared_object_id`). Here the times are taken out and the ids
    numbered in order of appearance (they only pair references up on loading). Keras never
    reads metadata.json back."""
    path = Path(path)
    model.save(path)
    with zipfile.ZipFile(path) as saved:
        members = [(i.filename, saved.read(i), i.compress_type) for i in saved.infolist()]
    with zipfile.ZipFile(path, "w") as rewritten:
        for name, data, compress_type in reproducible_members(members):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.create_system, info.compress_type = UNIX, compress_type
            info.external_attr = 0o644 << 16
            rewritten.writestr(info, data)


def write_model(model, path):
    with atomic_output(path) as partial:
        save_model(model, partial)


def open_live(directory):
    """A dvclive logger writing into `directory` inside a DVC stage: DVC records the stage, and
    dvc.yaml's top-level `metrics:`/`plots:` show it, so dvclive neither makes an experiment nor
    writes a dvc.yaml of its own."""
    from dvclive import Live

    return Live(str(directory), save_dvc_exp=False, dvcyaml=False)


def curve_name(key):
    """A Keras history key as a dvclive metric: val_accuracy -> validation/accuracy,
    loss -> training/loss."""
    training, validation = CURVE_SPLITS
    return f"{validation}/{key[4:]}" if key.startswith("val_") else f"{training}/{key}"


def log_epoch(live, logs):
    """One epoch's Keras logs ({key: value}) as dvclive metrics, then the next step."""
    for key, value in logs.items():
        live.log_metric(curve_name(key), value)
    live.next_step()


def keep_in_summary(live, figures):
    """Make `figures` the summary (metrics.json) of `live`, beside dvclive's `step`: the last
    epoch's values it gathers on its own are in the curves already."""
    live.summary = {**figures, "step": live.summary["step"]}


def parse_curve(tsv_text, column):
    """A dvclive metric history (`step<TAB>column` rows) as (steps, values)."""
    rows = list(csv.DictReader(tsv_text.splitlines(), delimiter="\t"))
    return [int(row["step"]) for row in rows], [float(row[column]) for row in rows]


def read_curve(stage, split, metric):
    """(steps, values) of a curve logged in the workspace."""
    return parse_curve(curve_path(stage, split, metric).read_text(encoding="utf-8"), metric)
