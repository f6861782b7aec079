"""Stage `train`: the head trained with the learning-rate schedule of `schedule.*`, once per seed.

This is the stage each `dvc exp run -S schedule....` variant reruns; nothing upstream of it
depends on `schedule.*`, so experiments reuse the cached features.
"""

from lrstudy.params import load_params, stage_main
from lrstudy.training.head import training_settings
from lrstudy.training.repeats import train_repeats
from lrstudy.training.schedules import describe, ignored_params, make_schedule, schedule_settings


@stage_main
def main():
    params = load_params()
    name, values = schedule_settings(params)
    settings = training_settings(params)
    print(f"train: schedule {describe(name, values)}")
    if unused := ignored_params(params):
        print(f"train: schedule {name} ignores schedule.{', schedule.'.join(unused)}")
    train_repeats("train", make_schedule(name, values, settings["epochs"]), settings)


if __name__ == "__main__":
    main()
