"""The study's figures, in plots/study-<grid>/."""

import matplotlib.pyplot as plt
import numpy as np

from lrstudy.core.outputs import write_figure
from lrstudy.core.paths import study_plots
from lrstudy.reporting.figures import plot_curves, plot_intervals
from lrstudy.statistics import curve_band

EPOCH_LABEL = "epoch (0-based)"
SOLID, DASHED_BLACK = {"linestyle": "-"}, {"linestyle": "--", "color": "k"}
METRICS = (("accuracy", "validation accuracy", False), ("loss", "validation loss", True))


def band(history, name, metric):
    """A variant's mean validation curve over its seeds, with its standard deviation."""
    runs = history[f"val_{metric}"]
    mean, std = curve_band(runs)
    return (name, list(range(len(runs[0]))), mean, SOLID, std)


def render_comparison(grid, histories, summaries, ranking, fine_tuning, families, baseline):
    """Per family ({family: variants}), every variant's mean validation curve with its ± 1 std
    band; the best of each family against the `baseline`, continued by the fine-tuned variant
    (`fine_tuning`, as finetuned.py records it); and every variant's final validation accuracy
    with its 95 % interval. Returns the folder."""
    out = study_plots(grid)
    families = {
        family: [name for name in ranking if name in names] for family, names in families.items()
    }
    compared = [members[0] for members in families.values() if members]
    if baseline in histories and baseline not in compared:
        compared.append(baseline)
    for metric, ylabel, log_scale in METRICS:
        for family, members in families.items():
            if members:
                plot_curves(
                    [band(histories[name], name, metric) for name in members],
                    EPOCH_LABEL,
                    ylabel,
                    f"{grid}: {family} schedules (mean over seeds, band ± 1 std)",
                    out / f"{family}_{metric}.png",
                    log_scale,
                )
        curves = [band(histories[name], name, metric) for name in compared]
        finetuned = fine_tuning["experiment"]
        curves.append((finetuned, *fine_tuning["validation"][metric], DASHED_BLACK))
        plot_curves(
            curves,
            EPOCH_LABEL,
            ylabel,
            f"{grid}: best of each family, {baseline}, {finetuned} (one run)",
            out / f"best_{metric}.png",
            log_scale,
        )
    plot_intervals(
        {name: summaries[name]["final_val_accuracy"] for name in ranking},
        baseline,
        f"{grid}: final validation accuracy, mean and 95 % interval over seeds",
        out / "final_accuracy.png",
    )
    return out


def plot_sensitivity(grid, summaries, trials, settings, winners):
    """plots/study-<grid>/sensitivity.png: per family, every trial's final validation accuracy
    (mean and 95 % interval over seeds) against its initial_lr on a log axis, the winners
    ringed: which schedules forgive a badly chosen rate."""
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for family, names in trials.items():
        rates = np.array([settings[name]["initial_lr"] for name in names])
        accuracy = [summaries[name]["final_val_accuracy"] for name in names]
        means = np.array([100 * summary["mean"] for summary in accuracy])
        lows, highs = (
            np.array(
                [
                    100 * (summary["mean"] if summary[key] is None else summary[key])
                    for summary in accuracy
                ]
            )
            for key in ("ci95_low", "ci95_high")
        )
        drawn = axes.errorbar(
            rates, means, yerr=[means - lows, highs - means], fmt="o", capsize=3, label=family
        )
        winner = names.index(winners[family])
        axes.plot(
            rates[winner],
            means[winner],
            "o",
            markersize=13,
            fillstyle="none",
            color=drawn[0].get_color(),
        )
    axes.set_xscale("log")
    axes.set(
        xlabel="initial_lr (log scale)",
        ylabel="final validation accuracy (%)",
        title=f"{grid}: every trial, mean and 95 % interval over seeds (ringed: winners)",
    )
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    path = study_plots(grid) / "sensitivity.png"
    write_figure(figure, path)
    return path


def plot_finetuning(grid, runs, reference):
    """plots/study-<grid>/finetune_accuracy.png: each fine-tuning variant's validation accuracy
    per epoch (one run each), the reference dashed."""
    curves = [
        (name, *run["val_accuracy"], DASHED_BLACK if name == reference else SOLID)
        for name, run in runs.items()
    ]
    path = study_plots(grid) / "finetune_accuracy.png"
    title = f"{grid}: fine-tuning schedules, validation accuracy (one run each)"
    plot_curves(curves, EPOCH_LABEL, "validation accuracy", title, path)
    return path
