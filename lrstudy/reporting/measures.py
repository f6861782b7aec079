"""How the report and the study print what they measure: a Measure (its label, table column,
which way is better, unit and digits) and the number formats they share. The study's measures
are lrstudy/study/analysis.py's; the report's accuracy is VAL_ACCURACY here."""

from dataclasses import dataclass


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


@dataclass(frozen=True)
class Measure:
    label: str  # in sentences; {fraction} and {baseline} are filled in
    column: str  # the study table's column
    lower_is_better: bool
    gain: str  # the word for a significant difference the better way ...
    loss: str  # ... and the other way
    unit: str
    scale: float  # per-seed values times scale: what the sentences print
    digits: int

    def text(self, summary):
        """A summary over seeds as '95.47 ± 0.21 %' (accuracy), '3.1 ± 0.6' (epochs)."""
        if self.unit == "points":
            return mean_std(summary)
        if self.unit == "":
            return loss_mean_std(summary)
        spread = "" if summary["std"] is None else f" ± {summary['std']:.{self.digits}f}"
        return f"{summary['mean']:.{self.digits}f}{spread}"

    def difference(self, value):
        """A difference as '+0.25 points', '-1.3 epochs', '-0.0123'."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.scale * value:+.{self.digits}f}{unit}"

    def size(self, value):
        """A difference's size, unsigned, as the power sentence prints it."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.scale * value:.{self.digits}f}{unit}"


ACCURACY = "final_val_accuracy"
VAL_ACCURACY = Measure(  # the report's: the heads' final validation accuracy, over seeds
    "final validation accuracy", "final val accuracy", False, "better", "worse", "points", 100, 2
)
