"""The feature cache (stage `features` writes it, the heads train on it): per split, the frozen
backbone's pooled output for every manifest row, and the labels, in data/features/.

- {split}_features.npy: float32, one row per image, in the manifest's order;
- {split}_labels.npy: int32 class indices into data/split/classes.json;
- info.json: the backbone, image size, feature width, classes and image counts.

With a frozen backbone and no augmentation, training a head on these features is the same
computation as image -> backbone -> head training, without paying for the backbone on every
epoch of every experiment.
"""

import numpy as np

from lrstudy.atomic import read_json, write_json
from lrstudy.paths import FEATURES_DIR

INFO_FILE = "info.json"


def write_split(folder, split, features, labels):
    """One split's features and labels into `folder` (the stage's partial output)."""
    np.save(folder / f"{split}_features.npy", features)
    np.save(folder / f"{split}_labels.npy", np.array(labels, np.int32))


def write_info(folder, backbone, image_size, feature_dim, classes, counts):
    write_json(
        folder / INFO_FILE,
        {
            "backbone": backbone,
            "image_size": image_size,
            "feature_dim": feature_dim,
            "classes": classes,
            "images": counts,
        },
    )


def load_features(split):
    """(features, labels) of one split."""
    return (
        np.load(FEATURES_DIR / f"{split}_features.npy"),
        np.load(FEATURES_DIR / f"{split}_labels.npy"),
    )


def class_count():
    return len(read_json(FEATURES_DIR / INFO_FILE)["classes"])
