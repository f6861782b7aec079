"""The bench's committed results render to its committed table: bench/table.py and the keys that
bench/measure.py and bench/run.py write stay in step (the bench itself takes about 11 minutes)."""

import json

from bench.table import markdown
from tests.helpers.sandbox import REPO_ROOT


def test_the_committed_results_render_to_the_committed_table():
    results = json.loads((REPO_ROOT / "bench" / "results.json").read_text())
    threads = results["machine"]["cores"]
    assert markdown(results, threads) == (REPO_ROOT / "bench" / "results.md").read_text()
