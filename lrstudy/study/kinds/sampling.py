"""The trials of a tuned grid: each family's search space sampled with the same budget
(tuned.py chooses among them and judges the winners).

A tuned grid of study.yaml names a budget and, per family, a search space:

    tuned:
      trials: 8                  # per family: the same budget for every family
      seed: 0                    # the quasirandom sequence's scramble
      space:
        exp: {initial_lr: [1.0e-4, 1.0e-1, log], k: [0.02, 0.5]}
        cosine: {initial_lr: [1.0e-4, 1.0e-1, log], warmup_epochs: [0, 10], min_lr: 0.0}

A space keyed by optimizers compares optimizers too, each with its own schedule families:

    optimizers:
      trials: 8
      space:
        adam: {fixed: {initial_lr: [1.0e-4, 1.0e-1, log]}}
        schedulefree_adamw: {fixed: {initial_lr: [1.0e-4, 1.0e-1, log]}}

`[low, high]` is uniform, `[low, high, log]` log-uniform, integer bounds draw integers and a
plain number is fixed. Trials come from a scrambled Sobol sequence (scipy.stats.qmc), one per
family, seeded by the grid's seed and the family's name: trial i is the same for any budget of at
least i, and adding a family changes no other family's trials. Each drawn value is rounded once,
to 3 significant digits, and that value names the variant and goes into its `-S`.
"""

import math
import zlib
from dataclasses import dataclass

from scipy.stats import qmc

from lrstudy.core.errors import UserError
from lrstudy.core.optimizers import OPTIMIZERS

DIGITS = 3  # significant digits of a drawn value
SHAPE = "{trials: N, seed: S, space: {family: {param: [low, high(, log)] or a number}}}"


@dataclass(frozen=True)
class Dimension:
    low: float
    high: float
    log: bool
    integer: bool

    def value(self, unit):
        """The value at `unit` (in [0, 1)) of this range, rounded as the variant names it."""
        if self.integer:
            return int(min(self.high, math.floor(self.low + unit * (self.high - self.low + 1))))
        if self.log:
            drawn = math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        else:
            drawn = self.low + unit * (self.high - self.low)
        return float(f"{drawn:.{DIGITS}g}")


def dimension(where, bounds):
    """A search range `[low, high]` or `[low, high, log]` of study.yaml."""
    if len(bounds) not in (2, 3):
        raise UserError(f"{where} should be [low, high] or [low, high, log], not {bounds}")
    scale = bounds[2] if len(bounds) == 3 else "uniform"
    low, high = bounds[:2]
    numbers = all(isinstance(b, int | float) and not isinstance(b, bool) for b in (low, high))
    if scale not in ("uniform", "log") or not numbers:
        raise UserError(f"{where} should be [low, high] or [low, high, log], not {bounds}")
    if not low < high or (scale == "log" and low <= 0):
        raise UserError(f"{where}: {bounds} is no range (low < high, and above 0 for log)")
    integer = isinstance(low, int) and isinstance(high, int) and scale == "uniform"
    return Dimension(float(low), float(high), scale == "log", integer)


def sobol_units(family, dimensions, trials, seed):
    """`trials` points of the family's scrambled Sobol sequence in [0, 1)^dimensions: the first
    2^m (m the least with 2^m >= trials), cut to `trials`, so every prefix is the same."""
    sampler = qmc.Sobol(dimensions, scramble=True, seed=zlib.crc32(f"{seed}:{family}".encode()))
    return sampler.random_base2(max(0, math.ceil(math.log2(trials))))[:trials]


def draw_trials(space, trials, seed, where="study.yaml"):
    """{family: [{param: value}, ...]} of a search space ({family: {param: range or number}}),
    `trials` per family."""
    drawn = {}
    for family, params in space.items():
        if not isinstance(params, dict) or not params:
            raise UserError(f"{where}: {family} should map its params to ranges or numbers")
        ranges = {
            key: dimension(f"{where}: {family}.{key}", bounds)
            for key, bounds in params.items()
            if isinstance(bounds, list)
        }
        units = sobol_units(family, max(1, len(ranges)), trials, seed)
        drawn[family] = [
            {
                key: ranges[key].value(point[list(ranges).index(key)]) if key in ranges else value
                for key, value in params.items()
            }
            for point in units
        ]
    return drawn


def tuned_settings(grid, families, trials=None, where="study.yaml"):
    """[(family, optimizer or None, schedule, {param: value})] of a tuned grid: every family's
    trials, `trials` (default the grid's own budget) each. A space keyed by optimizers
    ({optimizer: {schedule: params}}) makes a family of each pair, named `optimizer-schedule`;
    one keyed by schedules is trained by params.yaml's optimizer."""
    unknown = sorted(set(families) - {"trials", "seed", "space"})
    budget = families.get("trials") if trials is None else trials
    space = families.get("space")
    if unknown or not isinstance(space, dict):
        raise UserError(f"{where}: tuned grid {grid!r} should be {SHAPE}")
    if not isinstance(budget, int) or isinstance(budget, bool) or not 1 <= budget <= 1024:
        raise UserError(f"{where}: {grid}.trials = {budget!r}: expected an integer 1 to 1024")
    seed = families.get("seed", 0)
    named = [key for key in space if key in OPTIMIZERS]
    if named and len(named) < len(space):
        raise UserError(
            f"{where}: {grid}.space mixes optimizers ({', '.join(named)}) with schedules; key it "
            "by optimizers, each mapping schedules to their params, or by schedules alone"
        )
    spaces = [(optimizer, space[optimizer]) for optimizer in named] or [(None, space)]
    settings = []
    for optimizer, schedules in spaces:
        label = f"{optimizer}-" if optimizer else ""
        if not isinstance(schedules, dict) or not schedules:
            raise UserError(f"{where}: {grid}.space.{optimizer} should map schedules to params")
        if unnamed := [key for key in schedules if not isinstance(key, str)]:
            raise UserError(f"{where}: {grid}.space: {unnamed[0]!r} is no schedule name")
        named_space = {label + schedule: params for schedule, params in schedules.items()}
        drawn = draw_trials(named_space, budget, seed, f"{where}: {grid}.space")
        settings += [
            (label + schedule, optimizer, schedule, values)
            for schedule in schedules
            for values in drawn[label + schedule]
        ]
    return settings
