"""The grids of study.yaml: each variant a set of `schedule.*` values, run as its own `dvc exp`."""

from pathlib import Path

import yaml

from lrstudy.core.config import parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import SCHEDULES
from lrstudy.study.sampling import is_tuned, tuned_settings

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
        if family not in SCHEDULES:
            raise UserError(
                f"{path}: {grid}.{family} is no schedule; expected one of {', '.join(SCHEDULES)}"
            )
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise UserError(f"{path}: {grid}.{family} should be a list of {{key: value}}")
        known = SCHEDULES[family].params
        for values in variants:
            if unknown := sorted(set(values) - set(known)):
                raise UserError(
                    f"{path}: {grid}.{family} variant {values} has unknown key "
                    f"{', '.join(unknown)}; {family} takes {', '.join(known)}"
                )
            settings.append((family, values))
    return settings


def load_grid(grid, epochs, path=GRIDS_FILE, trials=None):
    """[(name, ScheduleConfig)] of a grid, each variant checked as schedule.* is for a run of
    `epochs` epochs; two variants that would share a name are refused. A tuned grid's variants
    are its trials (`trials` per family, default its budget), then fixed 0.001."""
    return grid_variants(grid, epochs, path, trials)[0]


def grid_variants(grid, epochs, path=GRIDS_FILE, trials=None):
    """(load_grid's variants, {family: its trials' names} of a tuned grid, else None)."""
    grids = read_grids(path)
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(map(str, grids))}")
    tuned = is_tuned(grids[grid])
    if tuned:
        settings = tuned_settings(grid, grids[grid], trials, path)
    else:
        settings = grid_settings(path, grid, grids[grid])
    variants, sources = [], {}
    for family, values in settings:
        schedule = parse_schedule({"name": family, **values}, epochs, f"{grid}.{family}", path)
        name = schedule.variant_name()
        if name in sources:
            raise UserError(
                f"{path}: {grid}.{family} variants {sources[name]} and {values} share the name "
                f"{name} (names keep 6 significant digits); drop one or make them differ"
            )
        sources[name] = values
        variants.append((name, schedule))
    if not variants:
        raise UserError(f"{path}: grid {grid!r} is empty: it holds no variant")
    if not tuned:
        return variants, None
    by_family = {}
    for name, schedule in variants:
        by_family.setdefault(schedule.name, []).append(name)
    if BASELINE not in sources:
        baseline = parse_schedule({"name": "fixed", "initial_lr": 0.001}, epochs)
        variants.append((BASELINE, baseline))
    return variants, by_family


def variant_args(schedule):
    """The `-S schedule.key=value` arguments of `dvc exp run` for a variant's ScheduleConfig."""
    pairs = {"name": schedule.name, **schedule.values}
    return [arg for key, value in pairs.items() for arg in ("-S", f"schedule.{key}={value}")]


def shard_of(variants, index, count):
    """The `index`-th (1-based) of `count` shares of `variants`, dealt round-robin in grid
    order: every variant in exactly one share, the shares' sizes within one of each other."""
    return variants[index - 1 :: count]
