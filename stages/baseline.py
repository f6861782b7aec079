"""Stage `baseline`: the seeds' section 1, the head trained with a fixed learning rate."""

from lrstudy.errors import reports_user_errors
from lrstudy.head import train_head, training_settings
from lrstudy.params import load_params, number
from lrstudy.schedules import make_schedule


@reports_user_errors
def main():
    params = load_params()
    lr = number(params, "baseline.lr", above=0)
    settings = training_settings(params)
    print(f"baseline: fixed learning rate {lr}")
    schedule = make_schedule("fixed", {"initial_lr": lr}, settings["epochs"])
    train_head("baseline", schedule, settings)


if __name__ == "__main__":
    main()
