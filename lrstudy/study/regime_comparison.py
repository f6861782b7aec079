"""A tuned grid across regimes: each family at its best in the grid's committed studies under
several regimes and under params.yaml's own, side by side (`--across-regimes`). The same
protocol in every study: each family's winner chosen on each fold's validation among its first
`trials` trials (the smallest budget of the studies, so that every point had the same number of
draws; trial i is the same at any budget), judged on that fold's test images, its accuracy over
images and seeds with its 95 % interval.

    python -m lrstudy.study --grid tuned --across-regimes 5-epochs,10-epochs,20-epochs

writes plots/study-tuned-regimes/regimes.png and metrics/study-tuned-regimes.md from the runs
files alone, the regimes in the order given and params.yaml's own last.
"""

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import write_table
from lrstudy.core.paths import study_table
from lrstudy.pages import update_blocks
from lrstudy.reporting.measures import interval, percent
from lrstudy.study.analysis import interval_of
from lrstudy.study.figures import plot_across_regimes
from lrstudy.study.kinds import read_kind_results
from lrstudy.study.kinds.head_grids import families_of
from lrstudy.study.kinds.tuned import TunedGrid, judge
from lrstudy.study.regimes import study_name


def first_trials(trials, count):
    """{family: its first `count` trials}."""
    return {family: names[:count] for family, names in trials.items()}


def regime_label(regime, params):
    """How a study's regime reads on the axis: its settings, or, for params.yaml's own (None),
    params.yaml's values of the keys `params` ({"group.key": value}) names."""
    settings = regime["settings"] if regime else params
    return ", ".join(f"{key} {value}" for key, value in settings.items())


def best_per_family(results, count, margin):
    """{family: its winners' test accuracy over images and seeds (mean, 95 % interval), or None
    where they diverged}, each family among its first `count` trials."""
    trials = first_trials(families_of(results["variants"]), count)
    chosen = {name for names in trials.values() for name in names} | {results["baseline"]}
    runs = {name: found for name, found in results["runs"].items() if name in chosen}
    judgement = judge(results["folds"], runs, trials, results["baseline"], margin)
    return {
        family: None if found is None else interval_of(found)
        for family, found in judgement["outcomes"].items()
    }


def compare_regimes(grid, regimes, params, margin):
    """(the trials per family every study was judged on, [(label, {family: best})]) of `grid`'s
    committed tuned studies under `regimes` (names), then params.yaml's own; `params`
    ({"group.key": value}) gives params.yaml's values of the keys the regimes set."""
    studies = [study_name(grid, regime) for regime in regimes] + [grid]
    found = []
    for name in studies:
        kind, results = read_kind_results(name)
        if kind is not TunedGrid:
            raise UserError(f"{name} is a {kind.name} grid: --across-regimes compares tuned grids")
        found.append(results)
    count = min(results["budget"] for results in found)
    keys = {
        key: params[key]
        for results in found
        for key in (results.get("regime") or {}).get("settings", {})
    }
    return count, [
        (regime_label(results.get("regime"), keys), best_per_family(results, count, margin))
        for results in found
    ]


def regime_rows(compared):
    """One row per regime: each family's best test accuracy with its 95 % interval."""
    return [
        {
            "regime": label,
            **{
                family: "diverged" if best is None else f"{percent(best['mean'])} {interval(best)}"
                for family, best in families.items()
            },
        }
        for label, families in compared
    ]


def comparison_name(grid):
    """The name of a grid's comparison across regimes: its table's and its page block's."""
    return f"{grid}-regimes"


def publish_comparison(grid, regimes, params, margin, pages=()):
    """metrics/study-<grid>-regimes.md, plots/study-<grid>-regimes/regimes.png and, in each of
    `pages` that has it, the block study-<grid>-regimes; returns the table."""
    count, compared = compare_regimes(grid, regimes, params, margin)
    note = (
        f"Each family at its best in {grid} under each regime: its winner on each fold's "
        f"validation among its first {count} trials, judged on that fold's test images; test "
        "accuracy over images and seeds with its 95 % interval."
    )
    name = comparison_name(grid)
    plot_across_regimes(name, grid, compared, count)
    table = write_table(study_table(name), regime_rows(compared), [note])
    for page in pages:
        update_blocks(page, {f"study-{name}": table})
    return table
