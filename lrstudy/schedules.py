"""Learning-rate schedules of the study, as pure functions of the epoch (0-based, as Keras counts).

- fixed: initial_lr
- exp:   initial_lr * exp(-k * epoch)
- step:  initial_lr * drop ** floor((1 + epoch) / epochs_drop)

`step` keeps the seeds' `(1 + epoch)` exactly. Its off-by-one: the first drop comes after
epochs_drop - 1 epochs, not epochs_drop (epochs_drop=10 trains epochs 0..8 at initial_lr and
halves at epoch 9); every later drop comes epochs_drop epochs after the previous one.
"""

import functools
import math

from lrstudy.params import choice, number

SCHEDULES = ("fixed", "exp", "step")
USED_PARAMS = {
    "fixed": ("initial_lr",),
    "exp": ("initial_lr", "k"),
    "step": ("initial_lr", "drop", "epochs_drop"),
}


def fixed(epoch, initial_lr):
    return initial_lr


def exponential(epoch, initial_lr, k):
    return initial_lr * math.exp(-k * epoch)


def step(epoch, initial_lr, drop, epochs_drop):
    return initial_lr * drop ** math.floor((1 + epoch) / epochs_drop)


FORMULAS = {"fixed": fixed, "exp": exponential, "step": step}


def schedule_settings(params):
    """The validated `schedule.*` values that the chosen schedule uses."""
    name = choice(params, "schedule.name", SCHEDULES)
    checks = {
        "initial_lr": dict(above=0),
        "k": dict(minimum=0),
        "drop": dict(above=0, maximum=1),
        "epochs_drop": dict(above=0),
    }
    values = {key: number(params, f"schedule.{key}", **checks[key]) for key in USED_PARAMS[name]}
    return name, values


def ignored_params(params):
    """`schedule.*` keys present in params that the chosen schedule does not use."""
    name = params["schedule"]["name"]
    return sorted(set(params["schedule"]) - {"name"} - set(USED_PARAMS[name]))


def describe(name, values):
    """`exp: initial_lr 0.01, k 0.3`, for logs, tables and figure legends."""
    return f"{name}: " + ", ".join(f"{key} {value:g}" for key, value in values.items())


def make_schedule(name, values):
    """A `schedule(epoch, lr)` for keras.callbacks.LearningRateScheduler; ignores the current lr."""
    formula = functools.partial(FORMULAS[name], **values)
    return lambda epoch, lr=None: formula(epoch)
