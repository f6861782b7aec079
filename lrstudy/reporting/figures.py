"""The curves and intervals the report and the study draw (lrstudy/core/outputs.py writes them
as PNG files that change only with their content)."""

import matplotlib.pyplot as plt
import numpy as np

from lrstudy.core.outputs import write_figure


def plot_curves(curves, xlabel, ylabel, title, path, log_scale=False):
    """One line per (label, epochs, values, matplotlib style keywords[, spread]) in `curves`; a
    spread (per-epoch standard deviation over seeds) is drawn as a band of ± one spread."""
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for label, epochs, values, style, *spread in curves:
        (line,) = axes.plot(epochs, values, label=label, **style)
        if spread and spread[0] is not None:
            values, deviation = np.asarray(values), np.asarray(spread[0])
            # A log axis cannot show a band reaching zero or below: it stops at a tenth.
            low = np.maximum(values - deviation, values / 10) if log_scale else values - deviation
            axes.fill_between(
                epochs, low, values + deviation, color=line.get_color(), alpha=0.2, linewidth=0
            )
    axes.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        axes.set_title(title)
    if log_scale:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", ncol=2 if len(curves) > 8 else 1)
    figure.tight_layout()
    write_figure(figure, path)


def plot_intervals(summaries, reference, title, path):
    """Each summary's mean as a dot with its 95 % interval as a bar, best at the top; a dashed
    line at the reference's mean."""
    names = list(summaries)[::-1]

    def bound(name, key):  # a single run has no interval: its bar is its dot
        value = summaries[name][key]
        return 100 * (summaries[name]["mean"] if value is None else value)

    means = np.array([100 * summaries[name]["mean"] for name in names])
    lows = np.array([bound(name, "ci95_low") for name in names])
    highs = np.array([bound(name, "ci95_high") for name in names])
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.32 * len(names)))
    axes.errorbar(means, range(len(names)), xerr=[means - lows, highs - means], fmt="o", capsize=3)
    if reference in summaries:
        axes.axvline(
            100 * summaries[reference]["mean"],
            color="k",
            linestyle="--",
            linewidth=1,
            label=f"{reference} (mean)",
        )
        axes.legend(fontsize="small", loc="lower left")
    axes.set_yticks(range(len(names)), names, fontsize="small")
    axes.set(xlabel="final validation accuracy (%)", title=title)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    write_figure(figure, path)
