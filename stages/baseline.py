"""Stage `baseline`: the reference reports' section 1, the head trained with a fixed learning
rate, once per seed."""

from lrstudy.params import load_params, number, stage_main
from lrstudy.training.head import training_settings
from lrstudy.training.repeats import train_repeats
from lrstudy.training.schedules import make_schedule


@stage_main
def main():
    params = load_params()
    lr = number(params, "baseline.lr", above=0)
    settings = training_settings(params)
    print(f"baseline: fixed learning rate {lr}")
    train_repeats(
        "baseline", make_schedule("fixed", {"initial_lr": lr}, settings["epochs"]), settings
    )


if __name__ == "__main__":
    main()
