"""Stage `report`: the seeds' figures (accuracy, loss, learning rate per epoch) and a metrics table.

Writes plots/{accuracy,loss,learning_rate}.png and metrics/table.{md,csv} from the dvclive logs;
the table ends with the tested verdicts.
"""

from lrstudy.errors import reports_user_errors
from lrstudy.layout import METRICS_DIR, PLOTS_DIR, write_table
from lrstudy.params import load_params
from lrstudy.report import SPREAD_TITLE, learning_rates, plot_metric, table_rows, verdicts


@reports_user_errors
def main():
    policies = learning_rates(load_params())
    plot_metric(policies, "accuracy", "accuracy", PLOTS_DIR / "accuracy.png", title=SPREAD_TITLE)
    plot_metric(
        policies,
        "loss",
        "cross-entropy loss",
        PLOTS_DIR / "loss.png",
        log_scale=True,
        title=SPREAD_TITLE,
    )
    head_policies = {model: policies[model] for model in ("baseline", "train")}
    plot_metric(
        head_policies,
        "learning_rate",
        "learning rate",
        PLOTS_DIR / "learning_rate.png",
        log_scale=True,
        splits=("train",),
    )
    print(write_table(METRICS_DIR / "table", table_rows(policies), verdicts(policies)), end="")


if __name__ == "__main__":
    main()
