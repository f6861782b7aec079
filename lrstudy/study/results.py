"""A grid's raw results, the only input of its published numbers: every variant's validation
curves per seed, those of the variants rerun on other split seeds, and the fine-tuned variant's
curves and McNemar counts.

The study reads them from its experiments and commits them as metrics/study-<grid>-runs.json;
`python -m lrstudy.study --grid NAME --reanalyse` rebuilds the grid's table, figures and page
blocks from that file alone, so what a page shows is always what the code computes from it.
"""

import json
import re

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import parse_curve, write_text
from lrstudy.core.paths import METRICS_DIR, curve_path, repeats_file, summary_file
from lrstudy.study.runner import read_experiment_file, read_experiment_json

CURVES = ("val_accuracy", "val_loss")  # per seed and epoch: what the analysis reads
TEST = "test_accuracy"  # per seed: each final head on the test split, for a tuned grid's judgement
FINETUNE_CURVES = ("accuracy", "loss")  # validation, per epoch, of the fine-tuned run


def runs_file(grid):
    """The per-seed results a grid's table is computed from, beside the table."""
    return METRICS_DIR / f"study-{grid}-runs.json"


def read_histories(names):
    """{experiment: {curve: one list per seed}} of the named experiments' `train` stages
    (metrics/train/repeats.json), the curves the analysis reads and the test accuracies."""
    histories = {}
    for name in names:
        repeats = read_experiment_json(repeats_file("train"), name)
        histories[name] = {curve: repeats["history"][curve] for curve in CURVES}
        if TEST in repeats:  # experiments older than the heads' test scores have none
            histories[name][TEST] = repeats[TEST]
    return histories


def read_fine_tuning(variant, experiment):
    """The fine-tuned variant's record: its experiment, McNemar's counts of fine-tuning on the
    test images (evaluate's finetuned_vs_scheduled) and its validation curves (steps, values)."""
    evaluation = read_experiment_json(summary_file("evaluate"), experiment)
    curves = {
        metric: parse_curve(
            read_experiment_file(curve_path("finetune", "validation", metric), experiment), metric
        )
        for metric in FINETUNE_CURVES
    }
    return {
        "variant": variant,
        "experiment": experiment,
        "test": evaluation["finetuned_vs_scheduled"],
        "validation": {metric: list(curve) for metric, curve in curves.items()},
    }


def study_results(grid, split_seed, histories, split_histories, rerun, fine_tuning, tuned=None):
    """The record of a grid's study, as the runs file keeps it. `split_histories`: {split
    seed: {variant: history}} of the variants `rerun` on other split seeds. A tuned grid's
    record adds `tuned`: its budget, each family's trials and optimizer, every variant's
    settings."""
    return {
        **({"tuned": tuned} if tuned else {}),
        "grid": grid,
        "split_seed": split_seed,
        "histories": histories,
        "rerun": rerun,
        "split_histories": {str(seed): found for seed, found in split_histories.items()},
        "fine_tuning": fine_tuning,
    }


def results_text(results):
    """JSON with each list of numbers (a seed's curve) on one line: diffs stay readable."""
    text = json.dumps(results, indent=1, allow_nan=False)
    return re.sub(r'\[[^\[\]{}"]*\]', lambda match: json.dumps(json.loads(match[0])), text)


def write_results(results):
    write_text(runs_file(results["grid"]), results_text(results) + "\n")


def read_results(grid):
    """A grid's committed raw results, split seeds as numbers again."""
    path = runs_file(grid)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; run the study (python -m lrstudy.study --grid {grid}) "
            "before reanalysing it"
        ) from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    if "split_histories" in results:  # a fine-tuning grid has none
        results["split_histories"] = {
            int(seed): found for seed, found in results["split_histories"].items()
        }
    return results
