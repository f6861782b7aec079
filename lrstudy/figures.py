"""Writing the study's matplotlib figures."""

import matplotlib.pyplot as plt

from lrstudy.layout import atomic_output


def save_figure(figure, path, dpi=100):
    """Write `figure` as a PNG and close it. Without the `Software` tag the bytes depend only on
    the figure, not on the matplotlib version, so a rerun commits no spurious change."""
    with atomic_output(path) as partial:
        figure.savefig(partial, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


def plot_curves(curves, xlabel, ylabel, title, path, log_scale=False):
    """One line per (label, epochs, values, matplotlib style keywords) in `curves`."""
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for label, epochs, values, style in curves:
        axes.plot(epochs, values, label=label, **style)
    axes.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        axes.set_title(title)
    if log_scale:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", ncol=2 if len(curves) > 8 else 1)
    figure.tight_layout()
    save_figure(figure, path)
