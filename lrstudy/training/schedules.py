"""Learning-rate schedules: one registry entry each, a pure function of the epoch (0-based, as
Keras counts) and of the run's total number of epochs.

An entry declares its formula, its params with their bounds and the short names they take in
variant names, and a one-line description. params.yaml validation, the study's variant names,
the report's labels and the README's schedule table (`python -m lrstudy.training.schedules`)
all read SCHEDULES: adding a schedule means one entry, its params in params.yaml and its test.

`step` keeps the reference reports' `(1 + epoch)` exactly. Its off-by-one: the first drop comes
after epochs_drop - 1 epochs, not epochs_drop (epochs_drop=10 trains epochs 0..8 at initial_lr
and halves at epoch 9); every later drop comes epochs_drop epochs after the previous one.
"""

import functools
import math
from dataclasses import dataclass
from typing import Callable

from lrstudy.params import ParamError, choice, number


@dataclass(frozen=True)
class Param:
    key: str  # under `schedule.` in params.yaml
    short: str  # in variant names: exp-lr0.01-k0.3
    bounds: dict  # keyword arguments of lrstudy.params.number
    meaning: str


@dataclass(frozen=True)
class Schedule:
    formula: Callable  # (epoch, epochs, **values) -> learning rate
    params: tuple
    description: str  # the formula, as the README's table shows it


def fixed(epoch, epochs, initial_lr):
    return initial_lr


def exponential(epoch, epochs, initial_lr, k):
    return initial_lr * math.exp(-k * epoch)


def step(epoch, epochs, initial_lr, drop, epochs_drop):
    return initial_lr * drop ** math.floor((1 + epoch) / epochs_drop)


def cosine_between(start, end, fraction):
    """From `start` (fraction 0) to `end` (fraction 1) along half a cosine."""
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


def cosine(epoch, epochs, initial_lr, warmup_epochs, min_lr):
    """Linear warmup to initial_lr over warmup_epochs, then cosine decay towards min_lr."""
    if epoch < warmup_epochs:
        return initial_lr * (epoch + 1) / warmup_epochs
    return cosine_between(initial_lr, min_lr, (epoch - warmup_epochs) / (epochs - warmup_epochs))


def onecycle(epoch, epochs, initial_lr, pct_start, div_factor, final_div_factor):
    """PyTorch's OneCycleLR (cosine annealing, two phases) stepped once per epoch: from
    initial_lr / div_factor up to initial_lr at epoch pct_start * epochs - 1, then down to
    initial_lr / div_factor / final_div_factor at the last epoch."""
    start = initial_lr / div_factor
    peak_epoch, last_epoch = pct_start * epochs - 1, epochs - 1
    if epoch <= peak_epoch:
        return cosine_between(start, initial_lr, epoch / peak_epoch if peak_epoch > 0 else 1)
    return cosine_between(
        initial_lr, start / final_div_factor, (epoch - peak_epoch) / (last_epoch - peak_epoch)
    )


INITIAL_LR = Param(
    "initial_lr", "lr", dict(above=0), "the starting (fixed, exp, step) or peak rate"
)
SCHEDULES = {
    "fixed": Schedule(fixed, (INITIAL_LR,), "`initial_lr`"),
    "exp": Schedule(
        exponential,
        (INITIAL_LR, Param("k", "k", dict(minimum=0), "decay rate per epoch")),
        "`initial_lr * exp(-k * e)`",
    ),
    "step": Schedule(
        step,
        (
            INITIAL_LR,
            Param("drop", "drop", dict(above=0, maximum=1), "factor at each drop"),
            Param("epochs_drop", "every", dict(above=0), "epochs between drops"),
        ),
        "`initial_lr * drop ** floor((1 + e) / epochs_drop)`",
    ),
    "cosine": Schedule(
        cosine,
        (
            INITIAL_LR,
            Param("warmup_epochs", "warmup", dict(minimum=0, integer=True), "linear warmup"),
            Param("min_lr", "min", dict(minimum=0), "the rate the decay tends to"),
        ),
        "`initial_lr * (e + 1) / w` while `e < w = warmup_epochs`, then "
        "`min_lr + (initial_lr - min_lr) * (1 + cos(pi * (e - w) / (E - w))) / 2`",
    ),
    "onecycle": Schedule(
        onecycle,
        (
            INITIAL_LR,
            Param("pct_start", "pct", dict(above=0, maximum=1), "share of epochs rising"),
            Param("div_factor", "div", dict(minimum=1), "initial_lr / start rate"),
            Param("final_div_factor", "fdiv", dict(minimum=1), "start rate / final rate"),
        ),
        "cosine from `initial_lr / div_factor` up to `initial_lr` at `e = pct_start * E - 1`, "
        "then down to `initial_lr / div_factor / final_div_factor` at `e = E - 1`",
    ),
}


def check_values(name, values, epochs):
    """`values` of schedule `name` within their bounds, as numbers (`key` names the source)."""
    checked = {
        param.key: number({"schedule": values}, f"schedule.{param.key}", **param.bounds)
        for param in SCHEDULES[name].params
    }
    warmup = checked.get("warmup_epochs", 0)
    if warmup >= epochs:
        raise ParamError("schedule.warmup_epochs", warmup, f"< train.epochs ({epochs})")
    return checked


def schedule_settings(params):
    """The chosen schedule and the validated `schedule.*` values it uses."""
    name = choice(params, "schedule.name", tuple(SCHEDULES))
    epochs = number(params, "train.epochs", minimum=1, integer=True)
    return name, check_values(name, params["schedule"], epochs)


def ignored_params(params):
    """`schedule.*` keys present in params that the chosen schedule does not use."""
    used = {param.key for param in SCHEDULES[params["schedule"]["name"]].params}
    return sorted(set(params["schedule"]) - {"name"} - used)


def variant_name(name, values):
    """exp-lr0.01-k0.3, step-lr0.1-drop0.5-every10, cosine-lr0.01-warmup5-min0."""
    shorts = {param.key: param.short for param in SCHEDULES[name].params}
    return "-".join([name] + [f"{shorts[key]}{value:g}" for key, value in values.items()])


def describe(name, values):
    """`exp: initial_lr 0.01, k 0.3`, for logs, tables and figure legends."""
    return f"{name}: " + ", ".join(f"{key} {value:g}" for key, value in values.items())


def make_schedule(name, values, epochs):
    """A `schedule(epoch, lr)` for keras.callbacks.LearningRateScheduler; ignores the current lr."""
    formula = functools.partial(SCHEDULES[name].formula, epochs=epochs, **values)
    return lambda epoch, lr=None: formula(epoch)


def markdown_table():
    """The README's table of schedules, from the registry."""
    lines = [
        "| `schedule.name` | learning rate at epoch `e` of `E` | params (short name in variants) |",
        "|---|---|---|",
    ]
    for name, schedule in SCHEDULES.items():
        params = ", ".join(
            f"`{param.key}` ({param.short}): {param.meaning}" for param in schedule.params
        )
        lines.append(f"| `{name}` | {schedule.description} | {params} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
