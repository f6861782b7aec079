"""Stage `baseline`: the reference reports' section 1, the head trained with a fixed learning
rate (`baseline.schedule`: fixed at `baseline.lr`), once per seed (lrstudy/heads/repeats.py), by
`train.optimizer`: every variant of `train` has a baseline of its own optimizer."""

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.heads.repeats import train_repeats

    schedule, epochs, train = config.baseline.schedule, config.head.epochs, config.train
    print(f"baseline: {train.describe()}, schedule {schedule.describe()}")

    def rate(epoch):
        return schedule.rate(epoch, epochs)

    train_repeats("baseline", "baseline", rate, config.head, train)


if __name__ == "__main__":
    main()
