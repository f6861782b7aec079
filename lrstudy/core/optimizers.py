"""The head's optimizers, one registry entry each, named by `train.optimizer`.

An entry names its class ("module:Class", imported only to build it) and the `train.*` params it
reads (each declared once in PARAMS,
with its bounds and its short name in variant names). The config's checks, the study's variant
names and the docs read this registry without loading Keras; lrstudy/heads/training.py builds
the optimizer from it. Adding an optimizer means one entry, its params in params.yaml and its
case in tests/test_stacked.py.

Every entry updates each weight from that weight's own gradient and state alone, which is what
lets the stacked trainer train ten seeds' heads as ten separate optimizers would.

Schedule-free AdamW (Defazio et al. 2024) trains an iterate y and evaluates an average x of its
steps (lrstudy/heads/training.py: Keras' class, with x recovered as the paper does). It
keeps y in the model's variables, and weights every step by 1/t whatever its rate (the paper
weights by the rate squared): a decaying `schedule.*` shrinks its later steps and still averages
them evenly. The study runs it at a fixed rate.
"""

from dataclasses import dataclass

from lrstudy.core.schedules import Param

DEFAULT = "adam"  # the reference reports': variant names leave it out


@dataclass(frozen=True)
class Optimizer:
    builder: str  # "module:Class" of a Keras optimizer
    label: str  # in sentences
    params: tuple  # keys of PARAMS (train.*), also its constructor's argument names
    description: str
    averaged: bool = False  # evaluates an average of its iterates (schedule-free)


PARAMS = {
    "momentum": Param("m", dict(minimum=0, maximum=0.999), "heavy-ball momentum"),
    "weight_decay": Param("wd", dict(minimum=0), "decoupled, times the learning rate"),
}
OPTIMIZERS = {
    "adam": Optimizer(
        "keras.optimizers:Adam", "Adam", (), "Adam, Keras' defaults (the reference reports')"
    ),
    "sgd": Optimizer(
        "keras.optimizers:SGD", "SGD", ("momentum",), "stochastic gradient descent with momentum"
    ),
    "adamw": Optimizer(
        "keras.optimizers:AdamW", "AdamW", ("weight_decay",), "Adam, decoupled weight decay"
    ),
    "schedulefree_adamw": Optimizer(
        "lrstudy.heads.training:ScheduleFreeAdamW",
        "schedule-free AdamW",
        ("weight_decay",),
        "schedule-free AdamW: evaluated and saved at its averaged iterate x",
        averaged=True,
    ),
}


def variant_prefix(name, values):
    """`sgd-m0.9-` before a schedule's variant name; nothing for Adam."""
    if name == DEFAULT:
        return ""
    return (
        "-".join([name] + [f"{PARAMS[key].short}{value:g}" for key, value in values.items()]) + "-"
    )


def markdown_table():
    """docs/pipeline.md's table of optimizers, from the registry."""
    lines = ["| `train.optimizer` | class | params (short name in variants) |", "|---|---|---|"]
    for name, optimizer in OPTIMIZERS.items():
        params = ", ".join(
            f"`train.{key}` ({PARAMS[key].short}): {PARAMS[key].meaning}"
            for key in optimizer.params
        )
        lines.append(
            f"| `{name}` | `{optimizer.builder}`: {optimizer.description} | {params or '-'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
