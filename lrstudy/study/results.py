"""A grid's raw results, the only input of its published numbers: its kind, its baseline, what
each variant is (family, optimizer, schedule), every variant's validation curves per seed, those
of the variants rerun on other split seeds, and the fine-tuned variant's curves and McNemar
counts (a fine-tuning grid: each run's test predictions instead).

The study reads them from its experiments and commits them as metrics/study-<grid>-runs.json;
`python -m lrstudy.study --grid NAME --reanalyse` rebuilds the grid's table, figures and page
blocks from that file alone (each kind's `publish`, through `publish_table` here), so what a
page shows is always what the code computes from it.
"""

import json
import re

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import write_table, write_text
from lrstudy.core.paths import METRICS_DIR, repeats_file, study_table
from lrstudy.experiments import read_experiment_json
from lrstudy.pages import update_blocks

CURVES = ("val_accuracy", "val_loss")  # per seed and epoch: what the analysis reads
TEST = "test_accuracy"  # per seed: each final head on the test split, for a tuned grid's judgement


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


def publish_table(grid, rows, notes, verdict, pages):
    """Write the grid's table (metrics/study-<grid>.md and .csv: `rows`, then the paragraphs
    `notes`) and, into each of `pages` that has them, its blocks: the table between
    <!-- study-GRID:start/end -->, `verdict` between <!-- verdict-GRID:start/end -->. Returns
    the table's Markdown."""
    table = write_table(study_table(grid), rows, notes)
    blocks = {f"study-{grid}": table, f"verdict-{grid}": verdict}
    for page in pages:
        update_blocks(page, blocks)
    return table
