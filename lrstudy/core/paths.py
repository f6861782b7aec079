"""Where the stages read and write, relative to the repository root: each path defined once.

dvc.yaml names the same paths as the stages' deps and outs. Outputs are named by what they are:
the splits `training`, `validation` and `test`; the models `baseline`, `scheduled` (the stage
`train`'s head) and `finetuned`; each stage's dvclive logs in metrics/<stage>/.
"""

from pathlib import Path

SPLITS = ("training", "validation", "test")
CURVE_SPLITS = ("training", "validation")  # the per-epoch curves' splits
MODEL_STAGES = {"baseline": "baseline", "scheduled": "train", "finetuned": "finetune"}

RAW_DIR = Path("data/raw")  # fetch: data/raw/<class>/<image>
SPLIT_DIR = Path("data/split")  # split: {training,validation,test}.csv and classes.json, and
#   folds/<n>/{training,validation,test}.csv of each fold n (1, 2, ...) of the study
CLASSES_FILE = SPLIT_DIR / "classes.json"
FEATURES_DIR = Path("data/features")  # features: one row per image of data/raw
MODELS_DIR = Path("data/models")  # baseline.keras, scheduled.keras, finetuned.keras
CHECKPOINT_DIR = Path("data/checkpoints/finetune")  # git- and DVC-ignored: resuming only
METRICS_DIR = Path("metrics")
PLOTS_DIR = Path("plots")
TIMES_DIR = METRICS_DIR / "times"  # git-ignored: wall times change on every run

DATASET_REPORT = METRICS_DIR / "dataset.json"
SPLIT_REPORT = METRICS_DIR / "split.json"
LR_RANGE_REPORT = METRICS_DIR / "lr_range.json"
LR_RANGE_PLOT = PLOTS_DIR / "lr_range.png"
TABLE = METRICS_DIR / "table"  # report: table.md and table.csv
PER_CLASS_TABLE = METRICS_DIR / "evaluate" / "per_class"  # evaluate: per_class.md and .csv
PREDICTIONS = METRICS_DIR / "evaluate" / "predictions.json"  # evaluate: per test image
CONFUSION_MATRIX_PLOT = PLOTS_DIR / "confusion_matrix.png"
MISTAKES_PLOT = PLOTS_DIR / "misclassified.png"


def report_plot(metric):
    """The report's figure of one metric per epoch: accuracy, loss or learning_rate."""
    return PLOTS_DIR / f"{metric}.png"


def manifest_path(split, fold=None):
    """A split's manifest: the committed split's, or fold `fold`'s (1, 2, ...)."""
    folder = SPLIT_DIR if fold is None else SPLIT_DIR / "folds" / str(fold)
    return folder / f"{split}.csv"


def model_file(model):
    """A trained model: baseline, scheduled or finetuned."""
    return MODELS_DIR / f"{model}.keras"


def logs_dir(stage):
    """A stage's dvclive folder (baseline, train, finetune, evaluate)."""
    return METRICS_DIR / stage


def summary_file(stage):
    """dvclive's summary of a stage: metrics/<stage>/metrics.json."""
    return logs_dir(stage) / "metrics.json"


def repeats_file(stage):
    """Every seed's per-epoch curves of a head (the stages baseline and train)."""
    return logs_dir(stage) / "repeats.json"


def folds_file(stage):
    """The heads of every fold and seed (the stages baseline and train): per-epoch validation
    curves and each final head's right or wrong on every test image of its fold."""
    return logs_dir(stage) / "folds.json"


def curve_path(stage, split, metric):
    """Where dvclive keeps a stage's per-epoch `metric` on `split` (training or validation)."""
    return logs_dir(stage) / "plots" / "metrics" / split / f"{metric}.tsv"


def time_file(stage):
    """A stage's wall time in this workspace's last run: neither DVC output nor tracked by git,
    since it changes on every run."""
    return TIMES_DIR / f"{stage}.json"


def study_table(grid):
    """The study's table of a grid: metrics/study-<grid>.md and .csv."""
    return METRICS_DIR / f"study-{grid}"


def study_plots(grid):
    return PLOTS_DIR / f"study-{grid}"
