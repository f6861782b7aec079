"""What the study compares between a schedule and the baseline, seed by seed: one entry per
measure, with how the tables and verdicts print it."""

from dataclasses import dataclass

from lrstudy.reporting.formatting import loss_mean_std, mean_std


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
EPOCHS = {"unit": "epochs", "scale": 1, "digits": 1, "lower_is_better": True}
MEASURES = {
    ACCURACY: Measure(
        label="final validation accuracy",
        column="final val accuracy",
        unit="points",
        scale=100,
        digits=2,
        lower_is_better=False,
        gain="better",
        loss="worse",
    ),
    "epochs_to_converge": Measure(
        label="epochs to {fraction} of its own final validation accuracy",
        column="epochs to {fraction} of final",
        **EPOCHS,
        gain="sooner",
        loss="later",
    ),
    "epochs_to_baseline": Measure(
        label="epochs to {fraction} of {baseline}'s mean final validation accuracy",
        column="epochs to {fraction} of {baseline}'s",
        **EPOCHS,
        gain="sooner",
        loss="later",
    ),
    "final_val_loss": Measure(
        label="final validation loss",
        column="final val loss",
        unit="",
        scale=1,
        digits=4,
        lower_is_better=True,
        gain="lower",
        loss="higher",
    ),
}
