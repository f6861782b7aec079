"""What the two kinds of grid of heads (plain.py, tuned.py) share: their variants train heads up
to `train`, every fold and seed of them, and come back as fold runs (folds.py); one variant is
fine-tuned; and the runs file keeps the same record of them."""

from lrstudy.core.errors import UserError
from lrstudy.experiments import succeeded
from lrstudy.study.finetuned import fine_tune
from lrstudy.study.folds import read_fold_runs
from lrstudy.study.variants import baseline_variant, head_variants


def families_of(variants):
    """{family: [variant names]} in the grid's order, from the variants' records ({name:
    record}); the baseline the grid does not list belongs to none."""
    families = {}
    for name, record in variants.items():
        if record["family"] is not None:
            families.setdefault(record["family"], []).append(name)
    return families


class HeadGrid:
    """A grid of heads made from its `settings` [(family, optimizer or None, schedule name,
    {param: value})] (variants.head_variants), the baseline among its variants."""

    name = None  # the kind, in the runs file: each kind's own

    def __init__(self, request, settings):
        self.request = request
        self.variants = head_variants(request, settings)
        self.by_name = {variant.name: variant for variant in self.variants}
        self.baseline = baseline_variant(request.config).name

    @property
    def runs(self):
        return [variant.run() for variant in self.variants]

    def run_grid(self, runner):
        """Run every variant up to `train`: (the folds' shape, {variant: its fold runs}) of those
        that succeeded (a UserError when none did)."""
        grid = self.request.grid
        runner.run_variants(grid, self.runs)
        finished = succeeded([variant.name for variant in self.variants])
        if not finished:
            raise UserError(f"no variant of {grid} finished; see the logs above")
        return read_fold_runs(finished)

    def records(self, names):
        """{name: record} of the named variants (results.py)."""
        return {name: self.by_name[name].record() for name in names}

    def finish(self, runner, shape, runs, fine_tuned):
        """Fine-tune `fine_tuned`: the grid's record, as the runs file keeps it (what a kind adds
        goes after it)."""
        request = self.request
        return {
            "kind": self.name,
            "grid": request.grid,
            "baseline": self.baseline,
            "split_seed": request.config.split.seed,
            "variants": self.records(runs),
            "folds": shape,
            "runs": runs,
            "fine_tuning": fine_tune(runner, self.by_name[fine_tuned]),
        }
