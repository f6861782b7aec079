"""Stage `report`: the reference reports' figures (accuracy, loss, learning rate per epoch) and
a metrics table.

Writes plots/{accuracy,loss,learning_rate}.png and metrics/table.{md,csv} from the dvclive logs;
the table ends with the tested verdicts.
"""

from lrstudy.params import load_params, stage_main
from lrstudy.paths import TABLE, report_plot
from lrstudy.reporting.report import SPREAD_TITLE, learning_rates, plot_metric, table_rows, verdicts
from lrstudy.reporting.tables import write_table
from lrstudy.reporting.verdicts import verdict_settings


@stage_main
def main():
    params = load_params()
    settings = verdict_settings(params)
    policies = learning_rates(params)
    plot_metric(policies, "accuracy", "accuracy", report_plot("accuracy"), title=SPREAD_TITLE)
    plot_metric(
        policies,
        "loss",
        "cross-entropy loss",
        report_plot("loss"),
        log_scale=True,
        title=SPREAD_TITLE,
    )
    head_policies = {model: policies[model] for model in ("baseline", "train")}
    plot_metric(
        head_policies,
        "learning_rate",
        "learning rate",
        report_plot("learning_rate"),
        log_scale=True,
        splits=("train",),
    )
    print(write_table(TABLE, table_rows(policies), verdicts(policies, settings)), end="")


if __name__ == "__main__":
    main()
