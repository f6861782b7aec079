"""Stage `report`: the seeds' hand-drawn figures and a metrics table, from the dvclive logs.

Writes plots/{accuracy,loss,learning_rate}.png (train dashed, validation solid, one colour per
model) and metrics/table.{md,csv}, all tracked by git so every commit carries its figures.
"""

import csv
import json
from pathlib import Path

import matplotlib.pyplot as plt

from stages.errors import reports_user_errors
from stages.layout import METRICS_DIR
from stages.params import load_params
from stages.schedules import schedule_settings

PLOTS_DIR = Path("plots")
TABLE_COLUMNS = (
    "model", "learning rate", "final val accuracy", "best val accuracy", "best epoch",
    "final val loss", "wall time (s)",
)


def learning_rates(params):
    """{model (its dvclive directory): its learning-rate policy}, in the seeds' order."""
    name, values = schedule_settings(params)
    described = ", ".join(f"{key} {value:g}" for key, value in values.items())
    return {"baseline": f"fixed {float(params['baseline']['lr']):g}", "train": f"{name}: {described}"}


def read_curve(model, split, metric):
    """The per-epoch values dvclive logged, as (epochs, values)."""
    path = METRICS_DIR / model / "plots" / "metrics" / split / f"{metric}.tsv"
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    return [int(row["step"]) for row in rows], [float(row[metric]) for row in rows]


def plot_metric(policies, metric, ylabel, path, log_scale=False, splits=("train", "eval")):
    figure, axes = plt.subplots(figsize=(8, 5))
    for colour, (model, policy) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], policies.items()):
        label = f"{model} ({policy})"
        for split in splits:
            epochs, values = read_curve(model, split, metric)
            style = "--" if split == "train" and len(splits) > 1 else "-"
            suffix = {"train": " train", "eval": " val"}[split] if len(splits) > 1 else ""
            axes.plot(epochs, values, style, color=colour, label=label + suffix)
    axes.set_xlabel("epoch (0-based)")
    axes.set_ylabel(ylabel)
    if log_scale:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def table_rows(policies):
    rows = []
    for model, policy in policies.items():
        summary = json.loads((METRICS_DIR / model / "metrics.json").read_text(encoding="utf-8"))
        timing = json.loads((METRICS_DIR / model / "time.json").read_text(encoding="utf-8"))
        rows.append({
            "model": model,
            "learning rate": policy,
            "final val accuracy": round(summary["eval"]["accuracy"], 4),
            "best val accuracy": round(summary["best_val_accuracy"], 4),
            "best epoch": summary["best_epoch"],
            "final val loss": round(summary["eval"]["loss"], 4),
            "wall time (s)": timing["wall_time_s"],
        })
    return rows


def markdown_table(rows):
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(str(row[column]) for column in TABLE_COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@reports_user_errors
def main():
    policies = learning_rates(load_params())
    PLOTS_DIR.mkdir(exist_ok=True)
    plot_metric(policies, "accuracy", "accuracy", PLOTS_DIR / "accuracy.png")
    plot_metric(policies, "loss", "cross-entropy loss", PLOTS_DIR / "loss.png", log_scale=True)
    plot_metric(policies, "learning_rate", "learning rate", PLOTS_DIR / "learning_rate.png",
                log_scale=True, splits=("train",))

    rows = table_rows(policies)
    (METRICS_DIR / "table.md").write_text(markdown_table(rows), encoding="utf-8")
    with open(METRICS_DIR / "table.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, TABLE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(markdown_table(rows), end="")


if __name__ == "__main__":
    main()
