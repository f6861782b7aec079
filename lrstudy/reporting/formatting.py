"""Numbers as the tables and verdicts print them."""


def percent(value):
    return f"{100 * value:.2f} %"


def mean_std(summary):
    """'95.47 ± 0.21 %' of a summary (without ± for a single run)."""
    if summary["std"] is None:
        return percent(summary["mean"])
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} %"


def interval(summary):
    """'[95.12, 95.99]' of a summary's 95 % interval, in percent ('' for a single run)."""
    if summary["ci95_low"] is None:
        return ""
    return f"[{100 * summary['ci95_low']:.2f}, {100 * summary['ci95_high']:.2f}]"


def loss_mean_std(summary):
    if summary["std"] is None:
        return f"{summary['mean']:.4f}"
    return f"{summary['mean']:.4f} ± {summary['std']:.4f}"
