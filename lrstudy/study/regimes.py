"""A regime: a setting of the data and the budget that any grid can run under, named in
study.yaml's `regimes` and chosen with `--regime NAME`. It sets params.yaml keys of `split` and
`head` for every variant and the baseline alike (their `-S` arguments), so that the same grid
under two regimes gives two studies side by side:

    regimes:
      15-per-class: {split.training_per_class: 15}
      10-epochs: {head.epochs: 10}

A grid run under a regime is the study `<grid>+<regime>`: its table, figures and runs file
(metrics/study-tuned+15-per-class.md), its page blocks (study-tuned+15-per-class) and its
experiments' names (fixed-lr0.001+15-per-class) carry the regime, so that they never meet the
same grid's in another regime.
"""

import re
from dataclasses import dataclass
from types import MappingProxyType

from lrstudy.core.config import parse_config
from lrstudy.core.errors import UserError

REGIMES_KEY = "regimes"  # study.yaml's key of the regimes; every other key is a grid
GROUPS = ("split", "head")  # what a regime may set: the data a head learns from, its budget
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")  # no "+": it joins grid and regime
SEPARATOR = "+"


@dataclass(frozen=True)
class Regime:
    """A regime's name and the params.yaml values it sets ({"group.key": value})."""

    name: str
    settings: MappingProxyType

    def arguments(self):
        """The `-S group.key=value` arguments every variant of the regime runs with."""
        return [
            arg for dotted, value in self.settings.items() for arg in ("-S", f"{dotted}={value}")
        ]

    def applied(self, params):
        """params.yaml's content (a dict) with the regime's values set, checked as params.yaml
        is: the Config every variant of the regime runs with."""
        changed = {group: dict(values) for group, values in params.items()}
        for dotted, value in self.settings.items():
            group, key = dotted.split(".")
            changed[group][key] = value
        try:
            return parse_config(changed)
        except UserError as error:
            raise UserError(f"study.yaml: regime {self.name}: {error}") from None

    def record(self):
        """What a runs file keeps of it."""
        return {"name": self.name, "settings": dict(self.settings)}


def study_name(grid, regime):
    """The name of `grid` run under the regime named `regime` (None: params.yaml's own): its
    files' and page blocks' name; a variant's name (`grid` its own) likewise."""
    return grid if regime is None else f"{grid}{SEPARATOR}{regime}"


def study_command(name):
    """The study command's arguments that run the study `name` (study_name's)."""
    grid, _, regime = name.partition(SEPARATOR)
    return ["--grid", grid, *(["--regime", regime] if regime else [])]


def read_regime(grids, name, params, path):
    """The regime `name` of study.yaml's content `grids`, each key a params.yaml key of
    `GROUPS` (`params`, params.yaml's content, says which exist); one-line errors otherwise."""
    regimes = grids.get(REGIMES_KEY) or {}
    if not isinstance(regimes, dict):
        raise UserError(f"{path}: {REGIMES_KEY} should map regime names to {{group.key: value}}")
    if name not in regimes:
        known = ", ".join(map(str, regimes)) or "none"
        raise UserError(f"{path} has no regime {name!r} under {REGIMES_KEY}; it has {known}")
    if not NAME.fullmatch(str(name)):
        raise UserError(
            f"{path}: regime name {name!r} should be letters, digits, '.', '_' or '-' "
            "(at most 60), starting with a letter or digit"
        )
    settings = regimes[name]
    if not isinstance(settings, dict) or not settings:
        raise UserError(f"{path}: regime {name} should map params.yaml keys to values")
    for dotted in settings:
        group, _, key = str(dotted).partition(".")
        if group not in GROUPS or key not in (params.get(group) or {}):
            keys = ", ".join(f"{g}.*" for g in GROUPS)
            raise UserError(
                f"{path}: regime {name} sets {dotted}, which is not a params.yaml key of {keys} "
                "(a regime sets the data and the budget)"
            )
    return Regime(name, MappingProxyType(dict(settings)))
