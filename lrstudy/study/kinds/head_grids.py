"""What the two kinds of grid of heads (plain.py, tuned.py) share: their variants train heads up
to `train`, every fold and seed of them, and come back as fold runs (folds.py); one variant is
fine-tuned; and the runs file keeps the same record of them."""

from typing import Annotated

from pydantic import Field, StrictInt, model_validator

from lrstudy.core.errors import UserError
from lrstudy.experiments import succeeded
from lrstudy.study.finetuned import fine_tune
from lrstudy.study.folds import read_fold_runs
from lrstudy.study.results import Count, Curve, Fraction, GridRecord, Name, Number, Record
from lrstudy.study.variants import baseline_variant, head_variants

Hex = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{2})*$")]
Some = Field(min_length=1)


class Images(Record):
    training: Count
    validation: Annotated[list[Count], Some]
    test: Annotated[list[Count], Some]


class FoldShape(Record):
    seeds: Annotated[list[StrictInt], Some]
    images: Images


class Band(Record):
    mean: list[Number | None]
    std: list[Number | None]


class FoldRuns(Record):
    test_right: list[Hex | None]
    val_right: list[Annotated[list[Count], Some]]
    final_val_loss: list[Number | None]
    val_loss_band: Band


class McNemarCounts(Record):
    test_images: Count
    only_before_correct: Count
    only_after_correct: Count
    p_value: Fraction


class FineTuned(Record):
    variant: Name
    experiment: Name
    test: McNemarCounts
    validation: dict[Name, Curve]


class HeadResults(GridRecord):
    """The runs file of a grid of heads: every variant's fold runs, lined up (folds.py)."""

    split_seed: StrictInt
    folds: FoldShape
    runs: dict[Name, FoldRuns]
    fine_tuning: FineTuned

    @model_validator(mode="after")
    def lined_up(self):
        """Every variant on the same folds, seeds and epochs; the named variants present."""
        shape = self.folds
        sizes = shape.images
        if len(sizes.validation) != len(sizes.test):
            raise ValueError("as many folds of validation images as of test images")
        heads = len(sizes.test) * len(shape.seeds)
        if set(self.runs) != set(self.variants):
            raise ValueError("the variants and the runs name the same variants")
        epochs = {len(curve) for runs in self.runs.values() for curve in runs.val_right}
        if len(epochs) > 1:
            raise ValueError("every head's curve has as many epochs as every other's")
        for name, runs in self.runs.items():
            lengths = {len(runs.test_right), len(runs.val_right), len(runs.final_val_loss)}
            if lengths != {heads}:
                raise ValueError(f"{name}: one run per fold and seed ({heads})")
            if {len(runs.val_loss_band.mean), len(runs.val_loss_band.std)} - {1} - epochs:
                raise ValueError(f"{name}: a loss band per epoch")
            for head, bits in enumerate(runs.test_right):
                size = sizes.test[head // len(shape.seeds)]
                if bits is not None and len(bits) != 2 * -(-size // 8):
                    raise ValueError(f"{name}: head {head} is right or wrong on {size} images")
        for name in (self.baseline, self.fine_tuning.variant):
            if name not in self.runs:
                raise ValueError(f"{name} has no runs")
        return self


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
    Results = HeadResults

    def __init__(self, request, settings):
        self.request = request
        self.variants = head_variants(request, settings)
        self.by_name = {variant.name: variant for variant in self.variants}
        self.baseline = baseline_variant(request.config, request.regime).name

    @property
    def runs(self):
        return [variant.run() for variant in self.variants]

    def run_grid(self, runner):
        """Run every variant up to `train`: (the folds' shape, {variant: its fold runs}) of those
        that succeeded (a UserError when none did)."""
        grid = self.request.name
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
            **request.identity(),
            "baseline": self.baseline,
            "split_seed": request.config.split.seed,
            "variants": self.records(runs),
            "folds": shape,
            "runs": runs,
            "fine_tuning": fine_tune(runner, self.by_name[fine_tuned]),
        }
