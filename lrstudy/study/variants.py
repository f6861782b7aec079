"""A study's variants: each one `dvc exp run` with its own `-S` params, named as the tables call
it, and carrying what it is (its family, optimizer and schedule) so that nothing is ever parsed
back out of a name.

A heads variant (the plain and tuned grids) sets `schedule.*` and `train.*` and runs up to
`train`; a fine-tuning variant sets `finetune.schedule.*` and runs up to `evaluate`. The baseline
every heads variant is compared with is built from params.yaml (`baseline.lr`, trained by
`train.optimizer`) and named like any other variant: fixed-lr0.001 for Adam, sgd-m0.9-fixed-lr0.001
for SGD.
"""

import dataclasses
from dataclasses import dataclass

from lrstudy.core.config import ScheduleConfig, TrainConfig, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.study.regimes import study_name

SHARED_STAGE = "baseline"  # with its upstream stages: what every variant starts from
HEADS_TARGETS = ("train",)  # a heads variant runs up to here; the rest comes from HEAD
FINETUNE_TARGETS = ("evaluate",)  # finetune, then its test predictions


def regime_name(regime):
    return regime.name if regime else None


@dataclass(frozen=True)
class Run:
    """One `dvc exp run`: the experiment's name, its `-S` arguments and the stages it runs up to
    (none: the whole pipeline)."""

    name: str
    arguments: tuple
    targets: tuple


def set_arguments(group, values):
    """`-S group.key=value` for each of `values` ({key: value}), as `dvc exp run` takes them."""
    return [arg for key, value in values.items() for arg in ("-S", f"{group}.{key}={value}")]


@dataclass(frozen=True)
class Variant:
    """A head trained by `train` (params.yaml's optimizer, or the one a grid names, with
    params.yaml's values for its params) with `schedule`, under `regime` (regimes.py; None:
    params.yaml's data and budget). `family`: the grid's family it belongs to (None: the
    baseline, where the grid does not list it)."""

    schedule: ScheduleConfig
    train: TrainConfig
    family: str | None = None
    regime: object = None

    @property
    def name(self):
        """exp-lr0.01-k0.3 (Adam), sgd-m0.9-cosine-lr0.1-warmup0-min0,
        fixed-lr0.001+15-per-class (under a regime)."""
        return study_name(self.train.variant_name(self.schedule), regime_name(self.regime))

    def arguments(self):
        """The `-S group.key=value` arguments of `dvc exp run`: the regime's, then its own."""
        train = {"optimizer": self.train.optimizer, **self.train.values}
        regime = self.regime.arguments() if self.regime else []
        own = set_arguments("schedule", self.schedule.as_params()) + set_arguments("train", train)
        return regime + own

    def run(self, targets=HEADS_TARGETS):
        return Run(self.name, tuple(self.arguments()), targets)

    def record(self):
        """What the runs file keeps of it: family, optimizer, schedule."""
        return {
            "family": self.family,
            "optimizer": self.train.optimizer,
            "schedule": self.schedule.as_params(),
        }


def baseline_variant(config, regime=None):
    """The baseline of a Config: its `baseline.schedule` trained by its `train`."""
    return Variant(config.baseline.schedule, config.train, regime=regime)


def head_variants(request, settings):
    """[Variant] of a grid of heads from its `settings` [(family, optimizer or None, schedule
    name, {param: value})], each schedule checked as schedule.* is for params.yaml's
    head.epochs, trained by params.yaml's `train` or the optimizer named; two that would share
    a name are refused. The baseline comes last where the grid does not have it."""
    config, path = request.config, request.source
    variants, sources = [], {}
    for family, optimizer, schedule_name, values in settings:
        schedule = parse_schedule(
            {"name": schedule_name, **values}, config.head.epochs, f"{request.grid}.{family}", path
        )
        named = dataclasses.replace(config.train, optimizer=optimizer) if optimizer else None
        variant = Variant(schedule, named or config.train, family, request.regime)
        if variant.name in sources:
            raise UserError(
                f"{path}: {request.grid}.{family} variants {sources[variant.name]} and {values} "
                f"share the name {variant.name} (names keep 6 significant digits); drop one or "
                "make them differ"
            )
        sources[variant.name] = values
        variants.append(variant)
    if not variants:
        raise UserError(f"{path}: grid {request.grid!r} is empty: it holds no variant")
    baseline = baseline_variant(config, request.regime)
    return variants if baseline.name in sources else [*variants, baseline]


@dataclass(frozen=True)
class FinetuneVariant:
    """One fine-tuning of the committed scheduled head (under a regime, the head retrained
    under it), with `schedule` as `finetune.schedule.*`; `family` and `regime`: as in Variant
    (family None: params.yaml's, the reference)."""

    schedule: ScheduleConfig
    family: str | None = None
    regime: object = None

    @property
    def name(self):
        """finetune-cosine-lr0.0001-warmup1-min0"""
        return study_name(f"finetune-{self.schedule.variant_name()}", regime_name(self.regime))

    def arguments(self):
        """The `-S` arguments of `dvc exp run`: the regime's, then finetune.schedule.*."""
        regime = self.regime.arguments() if self.regime else []
        return regime + set_arguments("finetune.schedule", self.schedule.as_params())

    def run(self):
        return Run(self.name, tuple(self.arguments()), FINETUNE_TARGETS)

    def record(self):
        return {"family": self.family, "schedule": self.schedule.as_params()}
