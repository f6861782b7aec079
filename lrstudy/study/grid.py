"""The grids of study.yaml: each variant a set of `schedule.*` values, run as its own `dvc exp`."""

from pathlib import Path

import yaml

from lrstudy.errors import UserError
from lrstudy.params import choice
from lrstudy.training.schedules import SCHEDULES, check_values, variant_name

GRIDS_FILE = Path("study.yaml")
BASELINE = "fixed-lr0.001"  # the reference reports' best fixed rate: every variant's comparison


def load_grid(grid, epochs, path=GRIDS_FILE):
    """[(name, family, {schedule key: value})] of a grid, each checked like schedule.* params
    for a run of `epochs` epochs."""
    grids = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(grids)}")
    variants = []
    for family, settings in grids[grid].items():
        name = choice({"schedule": {"name": family}}, "schedule.name", tuple(SCHEDULES))
        for values in settings:
            checked = check_values(name, values, epochs)
            variants.append((variant_name(name, checked), name, checked))
    return variants


def variant_args(family, values):
    """The `-S schedule.key=value` arguments of `dvc exp run` for a variant."""
    pairs = {"name": family, **values}
    return [arg for key, value in pairs.items() for arg in ("-S", f"schedule.{key}={value}")]
