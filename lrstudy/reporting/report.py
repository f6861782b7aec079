"""The reference reports' figures and a metrics table, from the dvclive logs (stage `report`).

Figures: training dashed, validation solid, one colour per model, the heads' mean over seeds
with a band of ± one standard deviation; the fine-tuning epochs continue the head's. The table
ends with the verdicts: the scheduled head against the baseline (paired over seeds), and
fine-tuning against the head it started from (McNemar). All outputs are tracked by git, so every
commit and experiment carries its own.
"""

import matplotlib.pyplot as plt

from lrstudy.core.optimizers import DEFAULT as DEFAULT_OPTIMIZER
from lrstudy.core.outputs import read_curve, read_json
from lrstudy.core.paths import CURVE_SPLITS, MODEL_STAGES, curve_path, repeats_file, summary_file
from lrstudy.reporting.figures import plot_curves
from lrstudy.reporting.measures import ACCURACY, interval, loss_mean_std, mean_std, percent
from lrstudy.reporting.verdicts import comparison_verdict, mcnemar_verdict
from lrstudy.statistics import compare_with_baseline, per_seed_results, summarize

EPOCH_LABEL = "epoch (0-based; fine-tuning continues the head's epochs)"
SPLIT_LABELS = {"training": " training", "validation": " validation"}
SPREAD_TITLE = "heads: mean over their seeds, band ± 1 standard deviation; fine-tuning: one run"
FIGURES = ("final_val_accuracy", "best_val_accuracy", "final_val_loss")


def learning_rates(train, baseline, schedule, finetune):
    """{model: its learning-rate policy}, in the reference reports' order, from the params
    groups of the same names; the heads' optimizer where it is not Adam."""
    optimizer = "" if train.optimizer == DEFAULT_OPTIMIZER else f"{train.describe()}; "
    return {
        "baseline": optimizer + baseline.schedule.describe(),
        "scheduled": optimizer + schedule.describe(),
        "finetuned": f"{finetune.schedule.describe()}, top {finetune.unfreeze_blocks} blocks "
        "unfrozen",
    }


def plot_metric(policies, metric, ylabel, path, log_scale=False, splits=CURVE_SPLITS, title=None):
    """Every model's per-epoch `metric`, one colour per model, with the band of its spread over
    seeds where it has one."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    curves = []
    for colour, (model, policy) in zip(colours, policies.items(), strict=False):
        stage = MODEL_STAGES[model]
        for split in splits:
            dashed = split == "training" and len(splits) > 1
            suffix = SPLIT_LABELS[split] if len(splits) > 1 else ""
            style = {"color": colour, "linestyle": "--" if dashed else "-"}
            spread = None
            if curve_path(stage, split, f"{metric}_std").exists():
                spread = read_curve(stage, split, f"{metric}_std")[1]
            label = f"{model} ({policy}){suffix}"
            curves.append((label, *read_curve(stage, split, metric), style, spread))
    plot_curves(curves, EPOCH_LABEL, ylabel, title, path, log_scale)


def repeated_summary(model):
    """(seeds, {figure: summary}, seeds that diverged) of a model's final and best validation
    accuracy and final loss: over its seeds (the heads, whose repeats.json keeps every seed's
    curves) or of its single run (fine-tuning)."""
    stage = MODEL_STAGES[model]
    if repeats_file(stage).exists():
        repeats = read_json(repeats_file(stage))
        results = per_seed_results(repeats["history"])
        figures = {key: summarize(results[key]) for key in FIGURES}
        diverged = sum(epoch is not None for epoch in repeats["diverged"])
        return len(results[ACCURACY]), figures, diverged
    summary = read_json(summary_file(stage))
    return 1, {key: summarize([summary[key]]) for key in FIGURES}, 0


def table_rows(policies):
    test = read_json(summary_file("evaluate"))
    rows = []
    for model, policy in policies.items():
        seeds, figures, diverged = repeated_summary(model)
        loss = loss_mean_std(figures["final_val_loss"])
        rows.append(
            {
                "model": model,
                "learning rate": policy,
                "seeds": seeds,
                "final val accuracy": mean_std(figures["final_val_accuracy"]),
                "its 95 % interval": interval(figures["final_val_accuracy"]),
                "best val accuracy": mean_std(figures["best_val_accuracy"]),
                "final val loss": f"diverged ({diverged} of {seeds} seeds)" if diverged else loss,
                "test accuracy (first seed)": percent(test[model]["test_accuracy"]),
            }
        )
    return rows


def verdicts(policies, settings):
    """The scheduled head against the baseline, paired over their seeds (better, worse,
    equivalent within the margin, or inconclusive; `settings`: the VerdictsConfig), and
    fine-tuning against the head it started from, image by image on the test split."""
    finals = {
        model: per_seed_results(read_json(repeats_file(MODEL_STAGES[model]))["history"])[ACCURACY]
        for model in ("scheduled", "baseline")
    }
    names = {model: f"{model} ({policies[model]})" for model in finals}
    schedule = comparison_verdict(
        names["scheduled"],
        summarize(finals["scheduled"]),
        names["baseline"],
        summarize(finals["baseline"]),
        compare_with_baseline(finals, "baseline", settings.margin_fraction)["scheduled"],
        seeds=len(finals["scheduled"]),
        margin=settings.margin_fraction,
        comparisons=1,
    )
    fine_tuning = read_json(summary_file("evaluate"))["finetuned_vs_scheduled"]
    return [schedule, mcnemar_verdict(fine_tuning)]
