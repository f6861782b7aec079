"""The seeds' hand-drawn figures and a metrics table, from the dvclive logs (stage `report`).

Figures: train dashed, validation solid, one colour per model; the fine-tuning epochs continue
the head's. All outputs are tracked by git, so every commit and experiment carries its own.
"""

import json

import matplotlib.pyplot as plt

from lrstudy.figures import plot_curves
from lrstudy.layout import METRICS_DIR
from lrstudy.schedules import describe, schedule_settings
from lrstudy.tracking import read_curve

EPOCH_LABEL = "epoch (0-based; fine-tuning continues the head's epochs)"
SPLIT_LABELS = {"train": " train", "eval": " val"}


def learning_rates(params):
    """{model (its dvclive directory): its learning-rate policy}, in the seeds' order."""
    finetune = params["finetune"]
    return {
        "baseline": f"fixed {float(params['baseline']['lr']):g}",
        "train": describe(*schedule_settings(params)),
        "finetune": f"fixed {float(finetune['lr']):g}, "
        f"top {finetune['unfreeze_blocks']} blocks unfrozen",
    }


def plot_metric(policies, metric, ylabel, path, log_scale=False, splits=("train", "eval")):
    """Every model's per-epoch `metric`, one colour per model."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    curves = []
    for colour, (model, policy) in zip(colours, policies.items(), strict=False):
        for split in splits:
            dashed = split == "train" and len(splits) > 1
            suffix = SPLIT_LABELS[split] if len(splits) > 1 else ""
            style = {"color": colour, "linestyle": "--" if dashed else "-"}
            curves.append((f"{model} ({policy}){suffix}", *read_curve(model, split, metric), style))
    plot_curves(curves, EPOCH_LABEL, ylabel, None, path, log_scale)


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def table_rows(policies):
    test = read_json(METRICS_DIR / "evaluate" / "metrics.json")
    rows = []
    for model, policy in policies.items():
        summary = read_json(METRICS_DIR / model / "metrics.json")
        rows.append(
            {
                "model": model,
                "learning rate": policy,
                "final val accuracy": round(summary["eval"]["accuracy"], 4),
                "best val accuracy": round(summary["best_val_accuracy"], 4),
                "best epoch": summary["best_epoch"],
                "final val loss": round(summary["eval"]["loss"], 4),
                "test accuracy": round(test[model]["test_accuracy"], 4),
                "wall time (s)": read_json(METRICS_DIR / model / "time.json")["wall_time_s"],
            }
        )
    return rows
