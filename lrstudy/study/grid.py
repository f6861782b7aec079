"""The grids of study.yaml: each variant a set of `schedule.*` values, run as its own `dvc exp`."""

from pathlib import Path

import yaml

from lrstudy.errors import UserError
from lrstudy.params import choice
from lrstudy.training.schedules import SCHEDULES, check_values, variant_name

GRIDS_FILE = Path("study.yaml")
BASELINE = "fixed-lr0.001"  # the reference reports' best fixed rate: every variant's comparison
SHAPE = "a mapping of grid names, each a mapping of schedule names to lists of {key: value}"


def read_grids(path):
    """study.yaml's grids, with one-line errors for a missing, empty or malformed file."""
    try:
        grids = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; it holds the study's grids ({SHAPE})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}: {error.problem}") from None
    if not isinstance(grids, dict) or not grids:
        raise UserError(f"{path} has no grids: it should be {SHAPE}")
    return grids


def grid_settings(path, grid, families):
    """[(family, {key: value})] of one grid, each variant's keys among its schedule's params."""
    if not isinstance(families, dict) or not families:
        raise UserError(f"{path}: grid {grid!r} should map schedule names to lists of settings")
    settings = []
    for family, variants in families.items():
        name = choice({"schedule": {"name": family}}, "schedule.name", tuple(SCHEDULES))
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise UserError(f"{path}: {grid}.{family} should be a list of {{key: value}}")
        known = [param.key for param in SCHEDULES[name].params]
        for values in variants:
            if unknown := sorted(set(values) - set(known)):
                raise UserError(
                    f"{path}: {grid}.{family} variant {values} has unknown key "
                    f"{', '.join(unknown)}; {family} takes {', '.join(known)}"
                )
            settings.append((name, values))
    return settings


def load_grid(grid, epochs, path=GRIDS_FILE):
    """[(name, family, {schedule key: value})] of a grid, each checked like schedule.* params
    for a run of `epochs` epochs; two variants that would share a name are refused."""
    grids = read_grids(path)
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(map(str, grids))}")
    variants, sources = [], {}
    for family, values in grid_settings(path, grid, grids[grid]):
        checked = check_values(family, values, epochs)
        name = variant_name(family, checked)
        if name in sources:
            raise UserError(
                f"{path}: {grid}.{family} variants {sources[name]} and {values} share the name "
                f"{name} (names keep 6 significant digits); drop one or make them differ"
            )
        sources[name] = values
        variants.append((name, family, checked))
    return variants


def variant_args(family, values):
    """The `-S schedule.key=value` arguments of `dvc exp run` for a variant."""
    pairs = {"name": family, **values}
    return [arg for key, value in pairs.items() for arg in ("-S", f"schedule.{key}={value}")]


def shard_of(variants, index, count):
    """The `index`-th (1-based) of `count` shares of `variants`, dealt round-robin in grid
    order: every variant in exactly one share, the shares' sizes within one of each other."""
    return variants[index - 1 :: count]
