"""Saving a Keras model so that equal weights give equal bytes.

A `.keras` file is a zip of metadata.json, config.json and model.weights.h5. Keras writes the
clock into it twice (`date_saved` in metadata.json, the weights member's time in the zip) and
the memory address of each object that layers share (`shared_object_id` in config.json). Here
the times are taken out and the ids numbered in order of appearance (they only pair the
references up on loading), so a rerun of unchanged params writes the same bytes and
`dvc repro -f` leaves `dvc.lock` as it was. Keras never reads metadata.json back.
"""

import json
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip member can carry
UNIX = 3  # the zip's "made by" system: the same bytes whatever system saves


def renumber_shared_objects(config, numbers=None):
    """`config` with every `shared_object_id` replaced by 1, 2, ... in order of appearance."""
    numbers = {} if numbers is None else numbers
    if isinstance(config, list):
        return [renumber_shared_objects(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    renumbered = {}
    for key, value in config.items():
        if key == "shared_object_id":
            renumbered[key] = numbers.setdefault(value, len(numbers) + 1)
        else:
            renumbered[key] = renumber_shared_objects(value, numbers)
    return renumbered


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
    """`model.save(path)`, then the zip rewritten reproducibly (see above)."""
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
