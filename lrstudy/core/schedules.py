"""Learning-rate schedules: one registry entry each, a pure function of the epoch (0-based, as
Keras counts) and of the run's total number of epochs.

An entry declares its formula, the `schedule.*` params it reads and a one-line description; each
param is declared once in PARAMS, with its bounds and the short name it takes in variant names.
The config's checks (lrstudy/core/config.py), the study's variant names, the report's labels and
the schedule table in docs/pipeline.md (`python -m lrstudy.core.schedules`) all read SCHEDULES:
adding a schedule means one entry, its params in params.yaml and its test.

`step` keeps the reference reports' `(1 + epoch)` exactly. Its off-by-one: the first drop comes
after epochs_drop - 1 epochs, not epochs_drop (epochs_drop=10 trains epochs 0..8 at initial_lr
and halves at epoch 9); every later drop comes epochs_drop epochs after the previous one.
"""

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Param:
    short: str  # in variant names: exp-lr0.01-k0.3
    bounds: dict  # keyword arguments of lrstudy.core.config.read_number
    meaning: str


@dataclass(frozen=True)
class Schedule:
    formula: Callable  # (epoch, epochs, **values) -> learning rate
    params: tuple  # keys of PARAMS, in the order variant names spell them
    description: str  # the formula, as the docs' table shows it


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


PARAMS = {
    "initial_lr": Param("lr", dict(above=0), "the starting (fixed, exp, step) or peak rate"),
    "k": Param("k", dict(minimum=0), "decay rate per epoch"),
    "drop": Param("drop", dict(above=0, maximum=1), "factor at each drop"),
    "epochs_drop": Param("every", dict(minimum=1), "epochs between drops"),
    "warmup_epochs": Param("warmup", dict(minimum=0, integer=True), "linear warmup"),
    "min_lr": Param("min", dict(minimum=0), "the rate the decay tends to"),
    "pct_start": Param("pct", dict(above=0, maximum=1), "share of epochs rising"),
    "div_factor": Param("div", dict(minimum=1), "initial_lr / start rate"),
    "final_div_factor": Param("fdiv", dict(minimum=1), "start rate / final rate"),
}
SCHEDULES = {
    "fixed": Schedule(fixed, ("initial_lr",), "`initial_lr`"),
    "exp": Schedule(exponential, ("initial_lr", "k"), "`initial_lr * exp(-k * e)`"),
    "step": Schedule(
        step,
        ("initial_lr", "drop", "epochs_drop"),
        "`initial_lr * drop ** floor((1 + e) / epochs_drop)`",
    ),
    "cosine": Schedule(
        cosine,
        ("initial_lr", "warmup_epochs", "min_lr"),
        "`initial_lr * (e + 1) / w` while `e < w = warmup_epochs`, then "
        "`min_lr + (initial_lr - min_lr) * (1 + cos(pi * (e - w) / (E - w))) / 2`",
    ),
    "onecycle": Schedule(
        onecycle,
        ("initial_lr", "pct_start", "div_factor", "final_div_factor"),
        "cosine from `initial_lr / div_factor` up to `initial_lr` at `e = pct_start * E - 1`, "
        "then down to `initial_lr / div_factor / final_div_factor` at `e = E - 1`",
    ),
}


def learning_rate(name, values, epoch, epochs):
    """The rate of schedule `name` with `values` ({param: number}) at `epoch` of `epochs`."""
    return SCHEDULES[name].formula(epoch, epochs, **values)


def mean_learning_rate(name, values, epochs):
    """The mean over a run's `epochs` of the rate schedule `name` gives: what a decay, a warmup or
    a cycle leaves of its initial_lr."""
    return sum(learning_rate(name, values, epoch, epochs) for epoch in range(epochs)) / epochs


def variant_name(name, values):
    """exp-lr0.01-k0.3, step-lr0.1-drop0.5-every10, cosine-lr0.01-warmup5-min0."""
    return "-".join([name] + [f"{PARAMS[key].short}{value:g}" for key, value in values.items()])


def describe(name, values):
    """`exp: initial_lr 0.01, k 0.3`, for logs, tables and figure legends."""
    return f"{name}: " + ", ".join(f"{key} {value:g}" for key, value in values.items())


def markdown_table():
    """docs/pipeline.md's table of schedules, from the registry."""
    lines = [
        "| `schedule.name` | learning rate at epoch `e` of `E` | params (short name in variants) |",
        "|---|---|---|",
    ]
    for name, schedule in SCHEDULES.items():
        params = ", ".join(
            f"`{key}` ({PARAMS[key].short}): {PARAMS[key].meaning}" for key in schedule.params
        )
        lines.append(f"| `{name}` | {schedule.description} | {params} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
