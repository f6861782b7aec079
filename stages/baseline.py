"""Stage `baseline`: the reference reports' section 1, the head trained with a fixed learning
rate, once per seed (lrstudy/heads/repeats.py)."""

from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.heads.repeats import train_repeats

    print(f"baseline: fixed learning rate {config.baseline.lr:g}")
    train_repeats("baseline", "baseline", lambda epoch: config.baseline.lr, config.head)


if __name__ == "__main__":
    main()
