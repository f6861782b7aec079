"""The reference reports' figures and a metrics table, from the dvclive logs (stage `report`).

Figures: train dashed, validation solid, one colour per model, the heads' mean over seeds with a
band of ± one standard deviation; the fine-tuning epochs continue the head's. The table ends with
the verdicts: the scheduled head against the baseline (paired over seeds), and fine-tuning against
the head it started from (McNemar). All outputs are tracked by git, so every commit and
experiment carries its own.
"""

import matplotlib.pyplot as plt

from lrstudy.atomic import read_json
from lrstudy.paths import curve_path, repeats_file, summary_file
from lrstudy.reporting.figures import plot_curves
from lrstudy.reporting.formatting import interval, loss_mean_std, mean_std, percent
from lrstudy.reporting.measures import ACCURACY
from lrstudy.reporting.verdicts import comparison_verdict, mcnemar_verdict
from lrstudy.statistics import compare_with_baseline, per_seed_results, summarize
from lrstudy.tracking import read_curve
from lrstudy.training.schedules import describe, schedule_settings

EPOCH_LABEL = "epoch (0-based; fine-tuning continues the head's epochs)"
SPLIT_LABELS = {"train": " train", "eval": " val"}
SPREAD_TITLE = "heads: mean over their seeds, band ± 1 standard deviation; fine-tuning: one run"


def learning_rates(params):
    """{model (its dvclive directory): its learning-rate policy}, in the reference reports'
    order."""
    finetune = params["finetune"]
    return {
        "baseline": f"fixed {float(params['baseline']['lr']):g}",
        "train": describe(*schedule_settings(params)),
        "finetune": f"fixed {float(finetune['lr']):g}, "
        f"top {finetune['unfreeze_blocks']} blocks unfrozen",
    }


def plot_metric(
    policies, metric, ylabel, path, log_scale=False, splits=("train", "eval"), title=None
):
    """Every model's per-epoch `metric`, one colour per model, with the band of its spread over
    seeds where it has one."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    curves = []
    for colour, (model, policy) in zip(colours, policies.items(), strict=False):
        for split in splits:
            dashed = split == "train" and len(splits) > 1
            suffix = SPLIT_LABELS[split] if len(splits) > 1 else ""
            style = {"color": colour, "linestyle": "--" if dashed else "-"}
            spread = None
            if curve_path(model, split, f"{metric}_std").exists():
                spread = read_curve(model, split, f"{metric}_std")[1]
            label = f"{model} ({policy}){suffix}"
            curves.append((label, *read_curve(model, split, metric), style, spread))
    plot_curves(curves, EPOCH_LABEL, ylabel, title, path, log_scale)


FIGURES = ("final_val_accuracy", "best_val_accuracy", "final_val_loss")


def repeated_summary(model):
    """(seeds, the final and best validation figures) of a model: over its seeds (the heads,
    which keep every seed's curves in repeats.json) or of its single run (fine-tuning)."""
    summary = read_json(summary_file(model))
    if repeats_file(model).exists():
        return len(read_json(repeats_file(model))["seeds"]), summary
    single = {"std": None, "ci95_low": None, "ci95_high": None}
    return 1, {key: {"mean": summary[key], **single} for key in FIGURES}


def table_rows(policies):
    test = read_json(summary_file("evaluate"))
    rows = []
    for model, policy in policies.items():
        seeds, figures = repeated_summary(model)
        rows.append(
            {
                "model": model,
                "learning rate": policy,
                "seeds": seeds,
                "final val accuracy": mean_std(figures["final_val_accuracy"]),
                "its 95 % interval": interval(figures["final_val_accuracy"]),
                "best val accuracy": mean_std(figures["best_val_accuracy"]),
                "final val loss": loss_mean_std(figures["final_val_loss"]),
                "test accuracy (first seed)": percent(test[model]["test_accuracy"]),
            }
        )
    return rows


def verdicts(policies, settings):
    """The scheduled head against the baseline, paired over their seeds (better, worse,
    equivalent within the margin, or inconclusive), and fine-tuning against the head it started
    from, image by image on the test split."""
    finals = {
        model: per_seed_results(read_json(repeats_file(model))["history"])[ACCURACY]
        for model in ("train", "baseline")
    }
    names = {model: f"{model} ({policies[model]})" for model in finals}
    schedule = comparison_verdict(
        names["train"],
        summarize(finals["train"]),
        names["baseline"],
        summarize(finals["baseline"]),
        compare_with_baseline(finals, "baseline", settings["margin"])["train"],
        seeds=len(finals["train"]),
        margin=settings["margin"],
        comparisons=1,
    )
    fine_tuning = read_json(summary_file("evaluate"))["finetune_vs_train"]
    return [schedule, mcnemar_verdict(fine_tuning)]
