"""A grid's raw results, the only input of its published numbers: its kind, its baseline, what
each variant is (family, optimizer, schedule), every variant's runs on the folds (folds.py:
per head, each test image right or wrong and the validation curves) and the fine-tuned
variant's curves and McNemar counts (a fine-tuning grid: each run's test predictions instead).

The study reads them from its experiments and commits them as metrics/study-<grid>-runs.json;
`python -m lrstudy.study --grid NAME --reanalyse` rebuilds the grid's table, figures and page
blocks from that file alone (each kind's `publish`, through `publish_table` here), so what a
page shows is always what the code computes from it.
"""

import json
from pathlib import Path

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import compact_json, write_table, write_text
from lrstudy.core.paths import METRICS_DIR, study_table
from lrstudy.pages import update_blocks


def runs_file(grid):
    """The runs a grid's table is computed from, beside the table."""
    return METRICS_DIR / f"study-{grid}-runs.json"


def write_results(results):
    write_text(runs_file(results["grid"]), compact_json(results) + "\n")


def read_results(grid, root=Path(".")):
    """A grid's committed raw results (in the project at `root`)."""
    path = Path(root) / runs_file(grid)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; run the study (python -m lrstudy.study --grid {grid}) "
            "before reanalysing it"
        ) from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
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
