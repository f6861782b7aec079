"""Stage `train`: the head trained with the learning-rate schedule of `schedule.*`, once per
seed (lrstudy/heads/repeats.py).

This is the stage each `dvc exp run -S schedule....` variant reruns; nothing upstream of it
depends on `schedule.*`, so experiments reuse the cached features.
"""

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.heads.repeats import train_repeats

    schedule, epochs = config.schedule, config.head.epochs
    print(f"train: schedule {schedule.describe()}")
    train_repeats("train", "scheduled", lambda epoch: schedule.rate(epoch, epochs), config.head)


if __name__ == "__main__":
    main()
