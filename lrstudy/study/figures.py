"""The study's figures, in plots/study-<grid>/. Epochs count from 1, as the tables do."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import ScalarFormatter

from lrstudy.core.outputs import write_figure
from lrstudy.core.paths import study_plots
from lrstudy.core.schedules import mean_learning_rate
from lrstudy.reporting.figures import plot_curves
from lrstudy.statistics import curve_band, expected_best
from lrstudy.study import folds

EPOCH_LABEL = "epoch"
SOLID, DASHED_BLACK = {"linestyle": "-"}, {"linestyle": "--", "color": "k"}
METRICS = (("accuracy", "validation accuracy", False), ("loss", "validation loss", True))


def band(shape, runs, name, metric):
    """A variant's mean validation curve over its heads (every fold and seed), with its standard
    deviation."""
    if metric == "accuracy":
        accuracy = folds.val_accuracy(shape, runs)
        mean, std = curve_band(accuracy.reshape(-1, accuracy.shape[-1]))
    else:
        mean, std = runs["val_loss_band"]["mean"], runs["val_loss_band"]["std"]
    return (name, list(range(1, len(mean) + 1)), mean, SOLID, std)


def render_comparison(grid, shape, runs, summaries, ranking, families, baseline):
    """Per family ({family: variants}), every variant's mean validation curve over its folds and
    seeds with its ± 1 std band; the best of each family (first in `ranking`) against the
    `baseline`; every variant's test accuracy with its 95 % interval from images and seeds
    (test_accuracy.png). Returns the folder."""
    out = study_plots(grid)
    families = {
        family: [name for name in ranking if name in names] for family, names in families.items()
    }
    compared = [members[0] for members in families.values() if members]
    if baseline in runs and baseline not in compared:
        compared.append(baseline)
    heads = f"mean over {len(shape['images']['test'])} folds x {folds.seeds_of(shape)} seeds"
    for metric, ylabel, log_scale in METRICS:
        for family, members in families.items():
            if members:
                plot_curves(
                    [band(shape, runs[name], name, metric) for name in members],
                    EPOCH_LABEL,
                    ylabel,
                    f"{grid}: {family} schedules ({heads}, band ± 1 std)",
                    out / f"{family}_{metric}.png",
                    log_scale,
                )
        plot_curves(
            [band(shape, runs[name], name, metric) for name in compared],
            EPOCH_LABEL,
            ylabel,
            f"{grid}: the best of each family and {baseline} ({heads})",
            out / f"best_{metric}.png",
            log_scale,
        )
    tested = [name for name in ranking if not summaries[name]["diverged"]]
    plot_intervals(
        {name: summaries[name]["test_accuracy"] for name in tested},
        baseline,
        f"{grid}\neach variant's test accuracy, 95 % interval from images and seeds\n"
        "(paired with the baseline image by image, differences are far tighter: the table)",
        "test accuracy over the folds (%)",
        out / "test_accuracy.png",
    )
    return out


def plot_sensitivity(grid, validation, trials, settings, winners, epochs):
    """plots/study-<grid>/sensitivity.png: per family, every trial's final validation accuracy
    (`validation`: {trial: mean and 95 % interval over seeds, each seed's mean over the folds})
    against its initial_lr (left) and against the mean rate its schedule gave over the `epochs`
    (right: what a decay actually gives), on log axes, the winners ringed: which schedules
    forgive a badly chosen rate, and whether a family's best rates agree once decay is counted."""
    figure, panels = plt.subplots(1, 2, figsize=(15, 5.5), sharey=True)
    axes_of = {
        "initial_lr (log scale)": lambda schedule: schedule["initial_lr"],
        f"mean learning rate over the {epochs} epochs (log scale)": lambda schedule: (
            mean_learning_rate(schedule["name"], without_name(schedule), epochs)
        ),
    }
    for axes, (xlabel, rate_of) in zip(panels, axes_of.items(), strict=True):
        for family, names in trials.items():
            rates = np.array([rate_of(settings[name]) for name in names])
            color = plot_trials(axes, family, rates, [validation[name] for name in names])
            winner = names.index(winners[family])
            axes.plot(
                rates[winner],
                100 * validation[winners[family]]["mean"],
                "o",
                markersize=13,
                fillstyle="none",
                color=color,
            )
        axes.set_xscale("log")
        axes.set(xlabel=xlabel)
        axes.grid(alpha=0.3)
    panels[0].set(ylabel="final validation accuracy (%)")
    panels[0].legend(fontsize="small")
    figure.suptitle(
        f"{grid}: every trial, mean and 95 % interval over seeds (ringed: the winner most folds "
        "chose)"
    )
    figure.tight_layout()
    path = study_plots(grid) / "sensitivity.png"
    write_figure(figure, path)
    return path


def plot_trials(axes, family, rates, accuracy):
    """A family's trials at `rates`: the mean of each one's `accuracy` (summaries) in percent,
    its 95 % interval as error bars; returns the family's colour."""
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
    return drawn[0].get_color()


def plot_budgets(grid, validation, trials, target):
    """plots/study-<grid>/budget.png: per family, the expected best final validation accuracy
    of n random trials (each trial's mean over folds and seeds, `validation`), n = 1 to all
    its trials, with a band of ± 1 std of that best (Dodge et al. 2019; within the trials' own
    range, where that best always lies), and the one `target`
    every family's tuning cost is counted against."""
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for family, names in trials.items():
        budgets = np.arange(1, len(names) + 1)
        scores = [validation[name]["mean"] for name in names]
        best = np.array([expected_best(scores, n) for n in budgets])
        mean, std = 100 * best[:, 0], 100 * best[:, 1]
        (line,) = axes.plot(budgets, mean, marker=".", label=family)
        low, high = 100 * min(scores), 100 * max(scores)  # where the best of n draws can be
        band = np.clip(mean - std, low, high), np.clip(mean + std, low, high)
        axes.fill_between(budgets, *band, color=line.get_color(), alpha=0.15)
    axes.axhline(100 * target, **DASHED_BLACK, label="target: best trial less half a margin")
    axes.set_xscale("log", base=2)
    most = max(map(len, trials.values()))
    axes.set_xticks([2**power for power in range(most.bit_length())], minor=False)
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.set(
        xlabel="trials drawn at random from the family's space (log 2 scale)",
        ylabel="expected best final validation accuracy (%)",
        title=f"{grid}: expected best of n trials (Dodge et al. 2019), band ± 1 std",
    )
    return finish(figure, axes, study_plots(grid) / "budget.png")


def plot_across_regimes(name, grid, compared, trials):
    """plots/study-<name>/regimes.png (`name` the comparison's): each family of `grid` at its
    best, test accuracy with its 95 % interval (`compared`: [(regime label, {family: summary or
    None})]), in each regime side by side."""
    figure, axes = plt.subplots(figsize=(9, 5.5))
    families = list(compared[0][1])
    offsets = np.linspace(-0.2, 0.2, len(families))
    for family, offset in zip(families, offsets, strict=True):
        shown = [(x, best[family]) for x, (_, best) in enumerate(compared) if best.get(family)]
        means = np.array([100 * summary["mean"] for _, summary in shown])
        lows = np.array([100 * summary["ci95_low"] for _, summary in shown])
        highs = np.array([100 * summary["ci95_high"] for _, summary in shown])
        axes.errorbar(
            [x + offset for x, _ in shown],
            means,
            yerr=[means - lows, highs - means],
            fmt="o-",
            capsize=3,
            label=family,
        )
    axes.set_xticks(range(len(compared)), [label for label, _ in compared])
    axes.set(
        ylabel="test accuracy over the folds (%)",
        title=f"{grid}: each family at its best ({trials} trials each) in each regime, "
        "95 % interval",
    )
    return finish(figure, axes, study_plots(name) / "regimes.png")


def finish(figure, axes, path):
    """A one-panel figure gridded, its legend drawn, written to `path`; returns the path."""
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    write_figure(figure, path)
    return path


def without_name(schedule):
    return {key: value for key, value in schedule.items() if key != "name"}


def plot_finetuning(grid, runs, reference):
    """plots/study-<grid>/finetune_accuracy.png: each fine-tuning variant's validation accuracy
    per epoch (one run each), the reference dashed."""
    curves = [
        (
            name,
            [step + 1 for step in run["val_accuracy"][0]],
            run["val_accuracy"][1],
            DASHED_BLACK if name == reference else SOLID,
        )
        for name, run in runs.items()
    ]
    path = study_plots(grid) / "finetune_accuracy.png"
    title = f"{grid}: fine-tuning schedules, validation accuracy (one run each)"
    plot_curves(curves, EPOCH_LABEL, "validation accuracy", title, path)
    return path


def plot_intervals(summaries, reference, title, xlabel, path):
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
        axes.legend(fontsize="small", loc="upper left")  # the best, at the top, sit right
    axes.set_yticks(range(len(names)), names, fontsize="small")
    axes.set(xlabel=xlabel, title=title)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    write_figure(figure, path)
