"""The curves the report and the study draw (lrstudy/core/outputs.py writes them as PNG files
that change only with their content)."""

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
