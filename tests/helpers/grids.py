"""A study grid as the command builds it: its kind, made from a Request on a study.yaml; and
the runs of its variants on the folds, as the runs file keeps them."""

import numpy as np

from lrstudy.core.outputs import bits_text
from lrstudy.study.grids import Request, grid_entry, read_grids
from lrstudy.study.kinds import kind_of
from lrstudy.study.regimes import read_regime
from tests.helpers.sandbox import REPO_ROOT, committed_config, committed_params


def study_grid(grid, path=REPO_ROOT / "study.yaml", config=None, trials=None, regime=None):
    """The kind of `grid` in the study.yaml at `path`, built for params.yaml's Config (or
    `config`; under `regime`, named in that study.yaml, params.yaml's with its values): its
    variants checked, as `python -m lrstudy.study --grid GRID [--regime NAME]` builds them."""
    entry = grid_entry(grid, path)
    if regime is not None:
        params = committed_params()
        regime = read_regime(read_grids(path), regime, params, path)
        config = regime.applied(params)
    request = Request(grid, entry, config or committed_config(), path, trials, regime)
    return kind_of(entry)(request)


def record(schedule, optimizer="adam", family=None, **values):
    """A variant's record as the runs file keeps it (results.py)."""
    return {
        "family": schedule if family is None else family,
        "optimizer": optimizer,
        "schedule": {"name": schedule, **values},
    }


def fold_shape(seeds=10, validation=(50, 50), test=(100, 100)):
    """The folds of a grid as the runs file records them."""
    return {
        "seeds": list(range(42, 42 + seeds)),
        "images": {"training": 300, "validation": list(validation), "test": list(test)},
    }


def fold_runs(shape, right, val_accuracy, loss):
    """A variant's runs as the runs file keeps them (lrstudy/study/folds.py): `right` (seeds,
    images) right or wrong on the folds' test images side by side, `val_accuracy` (folds,
    seeds, epochs) on each fold's validation images, `loss` (folds, seeds) final validation
    losses."""
    sizes, seeds = shape["images"]["test"], len(shape["seeds"])
    starts = np.cumsum([0, *sizes])
    right = np.asarray(right, dtype=bool)
    validation = np.array(shape["images"]["validation"])[:, None, None]
    val_right = np.rint(np.asarray(val_accuracy) * validation).astype(int)
    return {
        "test_right": [
            bits_text(right[seed, starts[fold] : starts[fold + 1]])
            for fold in range(len(sizes))
            for seed in range(seeds)
        ],
        "val_right": val_right.reshape(len(sizes) * seeds, -1).tolist(),
        "final_val_loss": np.asarray(loss, dtype=float).ravel().tolist(),
        "val_loss_band": {
            "mean": np.linspace(1.0, 0.5, val_right.shape[-1]).tolist(),
            "std": [0.1] * val_right.shape[-1],
        },
    }
