"""Outputs written whole or not at all: an interrupted stage never leaves a half-written file."""

import contextlib
import json
import os
import shutil
from pathlib import Path


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
    which `recover(path)` puts back if the process dies between the two renames."""
    path = Path(path)
    partial = partial_path(path, private)
    remove(partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
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


def write_json(path, data):
    """Stable, diff-friendly JSON (sorted keys would reorder per-class tables, so no sort)."""
    with atomic_output(path) as partial:
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))
