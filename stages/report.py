"""Stage `report`: the seeds' hand-drawn figures and a metrics table, from the dvclive logs.

Writes plots/{accuracy,loss,learning_rate}.png (train dashed, validation solid, one colour per
model; the fine-tuning epochs continue the head's) and metrics/table.{md,csv}, all tracked by
git so that every commit and experiment carries its own figures.
"""

import json

import matplotlib.pyplot as plt

from stages.errors import reports_user_errors
from stages.layout import METRICS_DIR, PLOTS_DIR, parse_curve, write_table
from stages.params import load_params
from stages.schedules import schedule_settings


def learning_rates(params):
    """{model (its dvclive directory): its learning-rate policy}, in the seeds' order."""
    name, values = schedule_settings(params)
    described = ", ".join(f"{key} {value:g}" for key, value in values.items())
    finetune = params["finetune"]
    return {
        "baseline": f"fixed {float(params['baseline']['lr']):g}",
        "train": f"{name}: {described}",
        "finetune": f"fixed {float(finetune['lr']):g}, top {finetune['unfreeze_blocks']} blocks unfrozen",
    }


def read_curve(model, split, metric):
    """The per-epoch values dvclive logged, as (epochs, values)."""
    path = METRICS_DIR / model / "plots" / "metrics" / split / f"{metric}.tsv"
    return parse_curve(path.read_text(encoding="utf-8"), metric)


def plot_metric(policies, metric, ylabel, path, log_scale=False, splits=("train", "eval")):
    figure, axes = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (model, policy) in zip(colours, policies.items()):
        for split in splits:
            epochs, values = read_curve(model, split, metric)
            style = "--" if split == "train" and len(splits) > 1 else "-"
            suffix = {"train": " train", "eval": " val"}[split] if len(splits) > 1 else ""
            axes.plot(epochs, values, style, color=colour, label=f"{model} ({policy}){suffix}")
    axes.set_xlabel("epoch (0-based; fine-tuning continues the head's epochs)")
    axes.set_ylabel(ylabel)
    if log_scale:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def table_rows(policies):
    test = read_json(METRICS_DIR / "evaluate" / "metrics.json")
    rows = []
    for model, policy in policies.items():
        summary = read_json(METRICS_DIR / model / "metrics.json")
        rows.append({
            "model": model,
            "learning rate": policy,
            "final val accuracy": round(summary["eval"]["accuracy"], 4),
            "best val accuracy": round(summary["best_val_accuracy"], 4),
            "best epoch": summary["best_epoch"],
            "final val loss": round(summary["eval"]["loss"], 4),
            "test accuracy": round(test[model]["test_accuracy"], 4),
            "wall time (s)": read_json(METRICS_DIR / model / "time.json")["wall_time_s"],
        })
    return rows


@reports_user_errors
def main():
    policies = learning_rates(load_params())
    PLOTS_DIR.mkdir(exist_ok=True)
    plot_metric(policies, "accuracy", "accuracy", PLOTS_DIR / "accuracy.png")
    plot_metric(policies, "loss", "cross-entropy loss", PLOTS_DIR / "loss.png", log_scale=True)
    head_policies = {model: policies[model] for model in ("baseline", "train")}
    plot_metric(head_policies, "learning_rate", "learning rate", PLOTS_DIR / "learning_rate.png",
                log_scale=True, splits=("train",))
    print(write_table(METRICS_DIR / "table", table_rows(policies)), end="")


if __name__ == "__main__":
    main()
