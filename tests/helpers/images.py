"""Real image files for tests: small generated ones, and photos of the embedded dataset."""

import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.sandbox import EMBEDDED_DATASET


def write_image(path, size=(40, 30), mode="RGB", image_format=None, seed=0):
    """A small real image file with random pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 256)
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path, image_format)
    return path


def copy_sample(root, classes=("Leopards", "crab", "okapi"), per_class=8):
    """The first `per_class` real photos of each class, from the embedded dataset's archive."""
    with tarfile.open(EMBEDDED_DATASET) as archive:
        members = sorted(archive.getmembers(), key=lambda member: member.name)
        for label in classes:
            (root / label).mkdir(parents=True)
            photos = [member for member in members if member.name.split("/")[1] == label][
                :per_class
            ]
            for member in photos:
                (root / label / Path(member.name).name).write_bytes(
                    archive.extractfile(member).read()
                )
    return root
