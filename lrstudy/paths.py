"""Where the stages read and write, relative to the repository root: each path defined once.

dvc.yaml names the same paths as the stages' deps and outs.
"""

from pathlib import Path

SPLITS = ("train", "val", "test")

RAW_DIR = Path("data/raw")  # fetch: data/raw/<class>/<image>
SPLIT_DIR = Path("data/split")  # split: {train,val,test}.csv and classes.json
CLASSES_FILE = SPLIT_DIR / "classes.json"
FEATURES_DIR = Path("data/features")  # features: the frozen backbone's output per split
MODELS_DIR = Path("data/models")  # baseline.keras, train.keras, finetune.keras
CHECKPOINT_DIR = Path("data/checkpoints/finetune")  # git- and DVC-ignored: resuming only
METRICS_DIR = Path("metrics")
PLOTS_DIR = Path("plots")

DATASET_REPORT = METRICS_DIR / "dataset.json"
SPLIT_REPORT = METRICS_DIR / "split.json"
LR_RANGE_REPORT = METRICS_DIR / "lr_range.json"
LR_RANGE_PLOT = PLOTS_DIR / "lr_range.png"
TABLE = METRICS_DIR / "table"  # report: table.md and table.csv
PER_CLASS_TABLE = METRICS_DIR / "evaluate" / "per_class"  # evaluate: per_class.md and .csv
CONFUSION_MATRIX_PLOT = PLOTS_DIR / "confusion_matrix.png"
MISTAKES_PLOT = PLOTS_DIR / "misclassified.png"


def report_plot(metric):
    """The report's figure of one metric per epoch: accuracy, loss or learning_rate."""
    return PLOTS_DIR / f"{metric}.png"


def manifest_path(split):
    return SPLIT_DIR / f"{split}.csv"


def model_file(model):
    """A trained model: `baseline`, `train` (the scheduled head) or `finetune`."""
    return MODELS_DIR / f"{model}.keras"


def metrics_dir(stage):
    """A stage's dvclive folder (baseline, train, finetune, evaluate)."""
    return METRICS_DIR / stage


def summary_file(stage):
    """dvclive's summary of a stage: metrics/<stage>/metrics.json."""
    return metrics_dir(stage) / "metrics.json"


def time_file(stage):
    """A stage's wall time: committed with git (and in each experiment's commit) but no DVC
    output, since it changes on every run and would change dvc.lock."""
    return METRICS_DIR / "times" / f"{stage}.json"


def repeats_file(model):
    """Every seed's per-epoch curves of a head (baseline or train)."""
    return metrics_dir(model) / "repeats.json"


def curve_path(model, split, metric):
    """Where dvclive keeps a model's per-epoch `metric` on `split` ("train" or "eval")."""
    return metrics_dir(model) / "plots" / "metrics" / split / f"{metric}.tsv"


def study_table(grid):
    """The study's table of a grid: metrics/study-<grid>.md and .csv."""
    return METRICS_DIR / f"study-{grid}"


def study_plots(grid):
    return PLOTS_DIR / f"study-{grid}"
