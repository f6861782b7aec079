"""study.yaml: its grids, each of one kind (lrstudy/study/kinds/), and what the command asks of
the one it runs (a Request).

A list grid maps schedule names to lists of `{param: value}`, each one variant:

    reference:
      fixed:
        - {initial_lr: 0.1}
      exp:
        - {initial_lr: 0.01, k: 0.3}
"""

from dataclasses import dataclass
from pathlib import Path

from lrstudy.core.config import Config
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import SCHEDULES
from lrstudy.core.yaml_files import YamlProblem, read_yaml
from lrstudy.study.regimes import REGIMES_KEY, SEPARATOR, Regime, study_name

GRIDS_FILE = Path("study.yaml")
SHAPE = "a mapping of grid names, each a mapping of schedule names to lists of {key: value}"


@dataclass(frozen=True)
class Request:
    """A grid to run, and how: its name and study.yaml entry (`source` the file), the Config its
    variants run with (params.yaml's, with the regime's values), and the command's options that
    shape a study."""

    grid: str
    entry: object
    config: Config
    source: Path = GRIDS_FILE
    trials: int | None = None  # a tuned grid's trials per family (None: its own budget)
    regime: Regime | None = None  # None: params.yaml's own data and budget

    @property
    def name(self):
        """The study's name: the grid's, with the regime's after a "+"."""
        return study_name(self.grid, self.regime.name if self.regime else None)

    def identity(self):
        """What a runs file records of the study: its name and its regime, if any."""
        return {"grid": self.name, **({"regime": self.regime.record()} if self.regime else {})}


def read_grids(path=GRIDS_FILE):
    """study.yaml's grids, with one-line errors for a missing, empty or malformed file."""
    try:
        grids = read_yaml(path)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; it holds the study's grids ({SHAPE})") from None
    except YamlProblem as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(grids, dict) or not grids:
        raise UserError(f"{path} has no grids: it should be {SHAPE}")
    return grids


def grid_entry(grid, path=GRIDS_FILE):
    """The study.yaml entry of `grid` (every key but `regimes` is a grid)."""
    grids = {name: entry for name, entry in read_grids(path).items() if name != REGIMES_KEY}
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(map(str, grids))}")
    if SEPARATOR in grid:
        raise UserError(f"{path}: grid name {grid!r} has a {SEPARATOR!r}, which names regimes")
    return grids[grid]


def list_settings(path, grid, families):
    """[(family, {key: value})] of a list grid, each variant's keys among its schedule's
    params."""
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


def shard_of(runs, index, count):
    """The `index`-th (1-based) of `count` shares of `runs`, dealt round-robin in grid order:
    every run in exactly one share, the shares' sizes within one of each other."""
    return runs[index - 1 :: count]
