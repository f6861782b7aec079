"""Stage `baseline`: the reference reports' section 1, the head trained with a fixed learning
rate, once per seed (lrstudy/heads/repeats.py), by `train.optimizer`: every variant of `train`
has a baseline of its own optimizer."""

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.heads.repeats import train_repeats

    print(f"baseline: {config.train.describe()}, fixed learning rate {config.baseline.lr:g}")
    rate = config.baseline.lr
    train_repeats("baseline", "baseline", lambda epoch: rate, config.head, config.train)


if __name__ == "__main__":
    main()
