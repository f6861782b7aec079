"""The grids of study.yaml: each variant a set of `schedule.*` values (and, in a grid that
names optimizers, a `train.optimizer`), run as its own `dvc exp`."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from lrstudy.core.config import ScheduleConfig, TrainConfig, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.optimizers import DEFAULT as DEFAULT_OPTIMIZER
from lrstudy.core.schedules import SCHEDULES
from lrstudy.study.sampling import is_tuned, tuned_settings

GRIDS_FILE = Path("study.yaml")
BASELINE = "fixed-lr0.001"  # Adam at the reports' best fixed rate: every variant's comparison
SHAPE = "a mapping of grid names, each a mapping of schedule names to lists of {key: value}"


@dataclass(frozen=True)
class Variant:
    """One experiment of a grid: its schedule, trained by `train` (params.yaml's optimizer, or
    the one the grid names, with params.yaml's values for its params)."""

    schedule: ScheduleConfig
    train: TrainConfig

    @property
    def name(self):
        """exp-lr0.01-k0.3 (Adam), sgd-m0.9-cosine-lr0.1-warmup0-min0."""
        return self.train.variant_prefix() + self.schedule.variant_name()

    def arguments(self):
        """The `-S group.key=value` arguments of `dvc exp run`."""
        train = {"optimizer": self.train.optimizer, **self.train.values}
        return set_arguments("schedule", self.schedule.as_params()) + set_arguments("train", train)


def set_arguments(group, values):
    """`-S group.key=value` for each of `values` ({key: value}), as `dvc exp run` takes them."""
    return [arg for key, value in values.items() for arg in ("-S", f"{group}.{key}={value}")]


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


def load_grid(grid, epochs, train, path=GRIDS_FILE, trials=None):
    """[(name, Variant)] of a grid, each schedule checked as schedule.* is for a run of `epochs`
    epochs, trained by `train` (params.yaml's TrainConfig) or the optimizer the grid names;
    two variants that would share a name are refused. A tuned grid's variants are its trials
    (`trials` per family, default its budget), then Adam at fixed 0.001."""
    return grid_variants(grid, epochs, train, path, trials)[0]


def grid_variants(grid, epochs, train, path=GRIDS_FILE, trials=None):
    """(load_grid's variants, {family: its trials' names} of a tuned grid, else None)."""
    grids = read_grids(path)
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(map(str, grids))}")
    tuned = is_tuned(grids[grid])
    if tuned:
        settings = tuned_settings(grid, grids[grid], trials, path)
    else:
        plain = grid_settings(path, grid, grids[grid])
        settings = [(family, None, family, values) for family, values in plain]
    variants, sources, by_family = [], {}, {}
    for family, optimizer, schedule_name, values in settings:
        schedule = parse_schedule(
            {"name": schedule_name, **values}, epochs, f"{grid}.{family}", path
        )
        trained_by = dataclasses.replace(train, optimizer=optimizer) if optimizer else train
        variant = Variant(schedule, trained_by)
        name = variant.name
        if name in sources:
            raise UserError(
                f"{path}: {grid}.{family} variants {sources[name]} and {values} share the name "
                f"{name} (names keep 6 significant digits); drop one or make them differ"
            )
        sources[name] = values
        variants.append((name, variant))
        by_family.setdefault(family, []).append(name)
    if not variants:
        raise UserError(f"{path}: grid {grid!r} is empty: it holds no variant")
    if not tuned:
        return variants, None
    if BASELINE not in sources:
        baseline = parse_schedule({"name": "fixed", "initial_lr": 0.001}, epochs)
        adam = dataclasses.replace(train, optimizer=DEFAULT_OPTIMIZER)
        variants.append((BASELINE, Variant(baseline, adam)))
    return variants, by_family


def shard_of(variants, index, count):
    """The `index`-th (1-based) of `count` shares of `variants`, dealt round-robin in grid
    order: every variant in exactly one share, the shares' sizes within one of each other."""
    return variants[index - 1 :: count]
