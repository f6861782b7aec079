"""Stage `report`: the reference reports' figures (accuracy, loss, learning rate per epoch) and
a metrics table.

Writes plots/{accuracy,loss,learning_rate}.png and metrics/table.{md,csv} from the dvclive logs
(lrstudy/reporting/report.py); the table ends with the tested verdicts.
"""

from lrstudy.core.outputs import write_table
from lrstudy.core.paths import TABLE, report_plot
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.reporting.report import (
        SPREAD_TITLE,
        learning_rates,
        plot_metric,
        table_rows,
        verdicts,
    )

    policies = learning_rates(config.train, config.baseline, config.schedule, config.finetune)
    plot_metric(policies, "accuracy", "accuracy", report_plot("accuracy"), title=SPREAD_TITLE)
    plot_metric(
        policies,
        "loss",
        "cross-entropy loss",
        report_plot("loss"),
        log_scale=True,
        title=SPREAD_TITLE,
    )
    plot_metric(
        policies,
        "learning_rate",
        "learning rate",
        report_plot("learning_rate"),
        log_scale=True,
        splits=("training",),
    )
    print(write_table(TABLE, table_rows(policies), verdicts(policies, config.verdicts)), end="")


if __name__ == "__main__":
    main()
