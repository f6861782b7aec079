"""params.yaml as typed, frozen objects, every value checked here and only here.

Each group of params.yaml is one dataclass below and each key one field, declared with what it
accepts. `load_config()` reads the file, refuses an unknown group or key (naming the nearest
valid one), checks every value, then the rules that span keys, and returns a `Config`. The
stages get it from `stage_main` (lrstudy/core/stage.py) and the study command loads it first,
both before TensorFlow is imported or any input read: a bad params.yaml answers in well under a
second with one `error:` line.

Numbers are accepted as strings too: `dvc exp run -S schedule.initial_lr=1e-05` writes `1e-05`,
which YAML reads as a string. The registries the checks read (schedules, optimizers, backbones)
live beside this module, not beside the code that trains or builds them, so that
`schedule.name`, `train.optimizer`, `backbone.name` and their bounds are checked without loading
Keras. `schedule` and `finetune.schedule` are read alike: a name and the values it uses.
"""

import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType

from lrstudy.core import optimizers, schedules
from lrstudy.core.backbones import BACKBONES
from lrstudy.core.errors import UserError
from lrstudy.core.yaml_files import YamlProblem, read_yaml

PARAMS_FILE = Path("params.yaml")
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's random seeds are 32-bit


class ParamError(UserError):
    def __init__(self, key, value, allowed, source=PARAMS_FILE):
        super().__init__(f"{source}: {key} = {value!r} is not allowed; expected {allowed}")


def read_number(
    key, value, *, minimum=None, maximum=None, above=None, integer=False, source=PARAMS_FILE
):
    """`value` as a float (or int) within the bounds; numeric strings count as numbers."""
    kind = "an integer" if integer else "a number"
    bounds = [
        f">= {minimum}" if minimum is not None else None,
        f"> {above}" if above is not None else None,
        f"<= {maximum}" if maximum is not None else None,
    ]
    allowed = " ".join([kind] + [bound for bound in bounds if bound])
    try:
        parsed = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        raise ParamError(key, value, allowed, source) from None
    if not math.isfinite(parsed) or (integer and not parsed.is_integer()):
        raise ParamError(key, value, allowed, source)
    if (
        (minimum is not None and parsed < minimum)
        or (above is not None and parsed <= above)
        or (maximum is not None and parsed > maximum)
    ):
        raise ParamError(key, value, allowed, source)
    return int(parsed) if integer else parsed


def accepted(key, value, ok, allowed):
    if not ok:
        raise ParamError(key, value, allowed)
    return value


# A group's fields, each declared with how its value is read: `read(dotted key, value)`.
def number(**bounds):
    return field(metadata={"read": lambda key, value: read_number(key, value, **bounds)})


def choice(*options):
    allowed = "one of " + ", ".join(options)
    return field(
        metadata={"read": lambda key, value: accepted(key, value, value in options, allowed)}
    )


def flag():
    def read(key, value):
        return accepted(key, value, isinstance(value, bool), "true or false")

    return field(metadata={"read": read})


def count_or_all():
    """A positive integer, or `all` (read as None: no limit)."""

    def read(key, value):
        try:
            return None if value == "all" else read_number(key, value, minimum=1, integer=True)
        except ParamError:
            raise ParamError(key, value, "an integer >= 1, or all") from None

    return field(metadata={"read": read})


def text(optional=False):
    def read(key, value):
        ok = (optional and value is None) or (isinstance(value, str) and value.strip() != "")
        return accepted(key, value, ok, "a non-empty string" + (" or null" if optional else ""))

    return field(metadata={"read": read})


MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024  # below 32 five stride-2 stages leave no extent
MAX_EPOCHS, MAX_BATCH = 10_000, 65_536
MAX_FOLDS = 20  # the study trains folds x seeds heads in one graph


@dataclass(frozen=True)
class DataConfig:
    source: str = text()
    sha256: str | None = text(optional=True)
    max_files: int = number(minimum=1, integer=True)
    max_gb: float = number(above=0)

    @property
    def max_bytes(self):
        return int(self.max_gb * 1e9)


@dataclass(frozen=True)
class SplitConfig:
    validation: float = number(above=0, maximum=1)  # an empty split leaves nothing to measure
    test: float = number(above=0, maximum=1)
    seed: int = number(minimum=0, maximum=MAX_SEED, integer=True)
    folds: int = number(minimum=2, maximum=MAX_FOLDS, integer=True)
    training_per_class: int | None = count_or_all()  # None: all

    def __post_init__(self):
        if self.validation + self.test >= 1:
            raise ParamError(
                "split.validation + split.test",
                self.validation + self.test,
                "< 1, so that the training split keeps images",
            )
        if self.validation + 1 / self.folds >= 1:
            raise ParamError(
                "split.validation + 1 / split.folds",
                self.validation + 1 / self.folds,
                "< 1, so that every fold's training set keeps images",
            )


@dataclass(frozen=True)
class BackboneConfig:
    name: str = choice(*BACKBONES)
    weights: str = text()  # "imagenet" or a local weights file
    image_size: int = number(minimum=MIN_IMAGE_SIZE, maximum=MAX_IMAGE_SIZE, integer=True)
    batch_size: int = number(minimum=1, maximum=MAX_BATCH, integer=True)
    strategy: str = choice("auto", "mirrored", "default")
    mixed_precision: str = choice("auto", "off")
    runtime: str = choice("auto", "litert", "keras")

    @property
    def spec(self):
        return BACKBONES[self.name]

    def check_weights_file(self):
        """Refuse a `backbone.weights` that is neither "imagenet" nor a file here."""
        if self.weights != "imagenet" and not Path(self.weights).is_file():
            raise UserError(
                f"params.yaml: backbone.weights = {self.weights!r} is neither 'imagenet' nor "
                "an existing file"
            )


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = number(minimum=1, maximum=MAX_EPOCHS, integer=True)
    batch_size: int = number(minimum=1, maximum=MAX_BATCH, integer=True)
    dropout: float = number(minimum=0, maximum=0.99)
    seed: int = number(minimum=0, maximum=MAX_SEED, integer=True)
    repeats: int = number(minimum=1, maximum=100, integer=True)

    def __post_init__(self):
        if self.seed + self.repeats - 1 > MAX_SEED:  # every repeat's seed stays 32-bit
            raise ParamError("head.seed", self.seed, f"<= {MAX_SEED - self.repeats + 1}")

    @property
    def seeds(self):
        """The repeats' seeds: head.seed, head.seed + 1, ... (head.repeats of them)."""
        return list(range(self.seed, self.seed + self.repeats))


@dataclass(frozen=True)
class TrainConfig:
    """The optimizer of the head (stages baseline, train and lr_range) and the values of the
    params it reads (lrstudy/core/optimizers.py); the others are checked but unused."""

    optimizer: str = choice(*optimizers.OPTIMIZERS)
    momentum: float = number(**optimizers.PARAMS["momentum"].bounds)
    weight_decay: float = number(**optimizers.PARAMS["weight_decay"].bounds)

    @property
    def spec(self):
        return optimizers.OPTIMIZERS[self.optimizer]

    @property
    def values(self):
        return {key: getattr(self, key) for key in self.spec.params}

    def describe(self):
        """`sgd: momentum 0.9`, for logs and tables."""
        values = ", ".join(f"{key} {value:g}" for key, value in self.values.items())
        return f"{self.optimizer}: {values}" if values else self.optimizer

    def variant_name(self, schedule):
        """The name of a head trained by this optimizer with `schedule` (a ScheduleConfig), as
        the study's experiments and tables call it: exp-lr0.01-k0.3 (Adam goes unnamed),
        sgd-m0.9-fixed-lr0.001."""
        return optimizers.variant_prefix(self.optimizer, self.values) + schedule.variant_name()


@dataclass(frozen=True)
class BaselineConfig:
    """The baseline: a fixed rate, trained by `train.optimizer` (stage `baseline`); the study
    compares every variant with it."""

    lr: float = number(above=0)

    @property
    def schedule(self):
        """Its schedule, as `schedule.*` would give it: fixed at `lr`."""
        return ScheduleConfig("fixed", MappingProxyType({"initial_lr": self.lr}))


@dataclass(frozen=True)
class ScheduleConfig:
    """The chosen schedule and the values of the params it reads (lrstudy/core/schedules.py);
    the keys it ignores are checked but not kept."""

    name: str
    values: MappingProxyType  # {param: number}, in the registry's order

    def rate(self, epoch, epochs):
        return schedules.learning_rate(self.name, self.values, epoch, epochs)

    def describe(self):
        return schedules.describe(self.name, self.values)

    def variant_name(self):
        return schedules.variant_name(self.name, self.values)

    def as_params(self):
        """{name, and each value it reads}: what params.yaml says of it."""
        return {"name": self.name, **self.values}


@dataclass(frozen=True)
class VerdictsConfig:
    margin: float = number(above=0, maximum=100)  # points of accuracy

    @property
    def margin_fraction(self):
        return self.margin / 100


@dataclass(frozen=True)
class LRRangeConfig:
    min_lr: float = number(above=0)
    max_lr: float = number(above=0)
    steps: int = number(minimum=10, maximum=100_000, integer=True)

    def __post_init__(self):
        if self.max_lr <= self.min_lr:
            raise ParamError("lr_range.max_lr", self.max_lr, f"a number > {self.min_lr:g}")


@dataclass(frozen=True)
class FinetuneConfig:
    unfreeze_blocks: int = number(minimum=0, integer=True)
    epochs: int = number(minimum=1, maximum=MAX_EPOCHS, integer=True)
    batch_size: int = number(minimum=1, maximum=MAX_BATCH, integer=True)
    augment: bool = flag()
    seed: int = number(minimum=0, maximum=MAX_SEED, integer=True)
    schedule: ScheduleConfig = field(metadata={"schedule": "finetune.epochs"})

    def rate(self, epoch):
        return self.schedule.rate(epoch, self.epochs)


@dataclass(frozen=True)
class Config:
    data: DataConfig
    split: SplitConfig
    backbone: BackboneConfig
    head: HeadConfig
    train: TrainConfig
    baseline: BaselineConfig
    schedule: ScheduleConfig
    lr_range: LRRangeConfig
    finetune: FinetuneConfig
    verdicts: VerdictsConfig


GROUPS = {item.name: item.type for item in fields(Config)}


def refuse_unknown(keys, known, prefix="", source=PARAMS_FILE):
    """One line for the first of `keys` not in `known`, naming the nearest known one."""
    for key in keys:
        if key not in known:
            word = "key" if prefix else "group"
            near = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.5)
            hint = (
                f"did you mean {prefix}{near[0]}?"
                if near
                else f"expected one of {', '.join(prefix + name for name in known)}"
            )
            raise UserError(f"{source}: {prefix}{key}: unknown {word}; {hint}")


def mapping(value, where, source=PARAMS_FILE):
    if not isinstance(value, dict):
        raise UserError(f"{source}: {where} must map keys to values, not {value!r}")
    return value


def parse_group(group, raw):
    """A params group (not `schedule`) as its dataclass, each key read by its field; a nested
    schedule (`finetune.schedule`) for a run of the group's `epochs`."""
    raw, kind = mapping(raw, group), GROUPS[group]
    declared = {item.name: item for item in fields(kind)}
    refuse_unknown(raw, declared, f"{group}.")
    values = {}
    for name, item in declared.items():
        if name not in raw:
            raise UserError(f"params.yaml: {group}.{name} is missing")
        if "read" in item.metadata:
            values[name] = item.metadata["read"](f"{group}.{name}", raw[name])
    for name, item in declared.items():
        if epochs_key := item.metadata.get("schedule"):
            where = f"{group}.{name}"
            values[name] = parse_schedule(raw[name], values["epochs"], where, epochs_key=epochs_key)
    return kind(**values)


def parse_schedule(raw, epochs, where="schedule", source=PARAMS_FILE, epochs_key="head.epochs"):
    """`schedule.*` (or `finetune.schedule.*`, or a study variant: `where` in `source`) as a
    ScheduleConfig for a run of `epochs` (`epochs_key`) epochs: every key checked against its
    bounds, those of the chosen schedule required."""
    raw = mapping(raw, where, source)
    refuse_unknown(raw, ["name", *schedules.PARAMS], f"{where}.", source)
    if "name" not in raw:
        raise UserError(f"{source}: {where}.name is missing")
    name = raw["name"]
    if name not in schedules.SCHEDULES:
        raise ParamError(f"{where}.name", name, "one of " + ", ".join(schedules.SCHEDULES), source)
    checked = {
        key: read_number(f"{where}.{key}", value, **schedules.PARAMS[key].bounds, source=source)
        for key, value in raw.items()
        if key != "name"
    }
    missing = [key for key in schedules.SCHEDULES[name].params if key not in checked]
    if missing:
        raise UserError(f"{source}: {where}.{missing[0]} is missing (schedule {name} uses it)")
    values = {key: checked[key] for key in schedules.SCHEDULES[name].params}
    if values.get("warmup_epochs", 0) >= epochs:
        raise ParamError(
            f"{where}.warmup_epochs", values["warmup_epochs"], f"< {epochs_key} ({epochs})", source
        )
    return ScheduleConfig(name, MappingProxyType(values))


def parse_config(params):
    """A Config from params.yaml's parsed content."""
    params = mapping(params, "the file")
    refuse_unknown(params, GROUPS)
    missing = [group for group in GROUPS if group not in params]
    if missing:
        raise UserError(f"params.yaml: the group {missing[0]} is missing")
    groups = {group: parse_group(group, params[group]) for group in GROUPS if group != "schedule"}
    groups["schedule"] = parse_schedule(params["schedule"], groups["head"].epochs)
    blocks = groups["backbone"].spec.block_count
    if groups["finetune"].unfreeze_blocks > blocks:
        raise ParamError(
            "finetune.unfreeze_blocks",
            groups["finetune"].unfreeze_blocks,
            f"an integer >= 0 <= {blocks} (the blocks of {groups['backbone'].name})",
        )
    return Config(**groups)


def read_params(path=PARAMS_FILE):
    """params.yaml's content, with one-line errors for a missing or malformed file."""
    try:
        return read_yaml(path)
    except FileNotFoundError:
        raise UserError(f"no {path} here: run the stages from the repository root") from None
    except YamlProblem as error:
        raise UserError(f"{path} is not valid YAML: {error}") from None


def load_config(path=PARAMS_FILE):
    """params.yaml, checked, as a Config."""
    return parse_config(read_params(path))
