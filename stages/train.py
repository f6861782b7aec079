"""Stage `train`: the head trained with the learning-rate schedule of `schedule.*`, once per
seed (lrstudy/heads/repeats.py).

This is the stage each `dvc exp run -S schedule....` variant reruns; nothing upstream of it
depends on `schedule.*`, so experiments reuse the cached features.
"""

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.heads.repeats import train_repeats

    schedule, epochs, train = config.schedule, config.head.epochs, config.train
    print(f"train: {train.describe()}, schedule {schedule.describe()}")
    if train.spec.averaged and schedule.name != "fixed":
        print(
            f"train: note: {train.optimizer} averages its steps evenly whatever their rate; "
            f"schedule {schedule.name} only scales them (lrstudy/core/optimizers.py)"
        )

    def rate(epoch):
        return schedule.rate(epoch, epochs)

    train_repeats("train", "scheduled", rate, config.head, train)


if __name__ == "__main__":
    main()
