"""Fine-tuning grids: each variant a `finetune.schedule.*`, one whole fine-tuning run of the
scheduled head, judged on the test split against the fine-tuning of params.yaml, image by image.

A grid of study.yaml whose only key is `finetune` maps schedule names to lists of values, as a
grid of the heads does:

    finetuning:
      finetune:
        fixed: [{initial_lr: 1.0e-4}]
        cosine: [{initial_lr: 1.0e-4, warmup_epochs: 1, min_lr: 0.0}]

Each variant runs as its own experiment through `finetune` and `evaluate` (the head it starts
from is `train`'s, unchanged). Fine-tuning trains one seed, so a variant has no spread over
seeds to test: like `evaluate`, the study tests it image by image on the test split, with
McNemar's exact test against params.yaml's schedule (the reference, this kind's baseline, run
as a variant too), Benjamini-Hochberg over the variants.
"""

import time

from pydantic import model_validator

from lrstudy.core.config import parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.outputs import parse_curve
from lrstudy.core.paths import PREDICTIONS, curve_path
from lrstudy.experiments import read_experiment_file, read_experiment_json, succeeded
from lrstudy.reporting.measures import percent
from lrstudy.reporting.verdicts import NO_DIFFERENCE, mcnemar_outcome
from lrstudy.statistics import ALPHA, adjust_p_values, mcnemar_exact
from lrstudy.study.figures import plot_finetuning
from lrstudy.study.grids import list_settings
from lrstudy.study.results import Count, Curve, GridRecord, Name, Record, publish_table
from lrstudy.study.variants import FinetuneVariant

GRID_KEY = "finetune"


def finetuning_variants(request):
    """[FinetuneVariant] of a fine-tuning grid, each schedule checked for a run of
    params.yaml's `finetune.epochs`: params.yaml's schedule first, the baseline every variant
    is tested against."""
    grid, path, settings = request.grid, request.source, request.config.finetune
    regime = request.regime
    reference = FinetuneVariant(settings.schedule, regime=regime)
    variants = {reference.name: reference}
    for family, values in list_settings(path, f"{grid}.{GRID_KEY}", request.entry[GRID_KEY]):
        schedule = parse_schedule(
            {"name": family, **values},
            settings.epochs,
            f"{grid}.{GRID_KEY}.{family}",
            path,
            epochs_key="finetune.epochs",
        )
        variant = FinetuneVariant(schedule, family, regime)
        if variant.name in variants and variants[variant.name].family is not None:
            raise UserError(f"{path}: {grid} names {variant.name} twice; drop one")
        variants[variant.name] = variant
    return list(variants.values())


class FinetuneRun(Record):
    labels: list[Count]
    predicted: list[Count]
    val_accuracy: Curve


class FinetuneResults(GridRecord):
    """The runs file of a fine-tuning grid: each run's test predictions, the reference's
    among them."""

    runs: dict[Name, FinetuneRun]

    @model_validator(mode="after")
    def lined_up(self):
        """Every run on the same test images, its curve with a value per epoch."""
        if self.baseline not in self.runs or set(self.runs) != set(self.variants):
            raise ValueError("the variants, the runs and the reference name the same variants")
        images = {len(run.labels) for run in self.runs.values()}
        images |= {len(run.predicted) for run in self.runs.values()}
        if len(images) > 1 or len({tuple(run.labels) for run in self.runs.values()}) > 1:
            raise ValueError("every run predicts the same test images")
        for name, run in self.runs.items():
            if len(run.val_accuracy[0]) != len(run.val_accuracy[1]) or not run.val_accuracy[1]:
                raise ValueError(f"{name}: a validation accuracy per epoch")
        return self


def read_finetuning_runs(names):
    """{experiment: its test labels, the fine-tuned model's predicted classes and its
    validation accuracy per epoch (steps, values)}."""
    runs = {}
    for name in names:
        predictions = read_experiment_json(PREDICTIONS, name)
        curve = read_experiment_file(curve_path("finetune", "validation", "accuracy"), name)
        runs[name] = {
            "labels": predictions["labels"],
            "predicted": predictions["finetuned"],
            "val_accuracy": list(parse_curve(curve, "accuracy")),
        }
    return runs


def correct(run):
    return [label == guess for label, guess in zip(run["labels"], run["predicted"], strict=True)]


def judge_finetuning(runs, reference):
    """{variant: McNemar's exact test against the `reference`, with `p_adjusted` (BH over the
    variants)} of `runs` ({variant: its test labels and predictions})."""
    tests = {
        name: mcnemar_exact(correct(runs[reference]), correct(run))
        for name, run in runs.items()
        if name != reference
    }
    adjusted = adjust_p_values([test["p_value"] for test in tests.values()])
    for test, p_adjusted in zip(tests.values(), adjusted, strict=True):
        test["p_adjusted"] = p_adjusted
    return tests


def finetuning_rows(runs, reference, tests):
    """One row per variant, the reference first, then by test accuracy."""

    def accuracy(name):
        right = correct(runs[name])
        return sum(right) / len(right)

    order = [reference, *sorted(tests, key=accuracy, reverse=True)]
    rows = []
    for name in order:
        curve = runs[name]["val_accuracy"][1]
        test = tests.get(name)
        rows.append(
            {
                "variant": name,
                "final val accuracy": percent(curve[-1]),
                "best val accuracy": percent(max(curve)),
                "test accuracy": percent(accuracy(name)),
                "right only here / only in the reference": (
                    f"{test['only_after_correct']} / {test['only_before_correct']}" if test else ""
                ),
                "McNemar p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
                "vs the reference": (
                    mcnemar_outcome(test, test["p_adjusted"]) if test else "(reference)"
                ),
            }
        )
    return rows


def finetuning_note(runs, reference, tests):
    images = len(runs[reference]["labels"])
    return (
        f"Each variant is one fine-tuning run (one seed) of the same scheduled head with its "
        f"`finetune.schedule.*`; the reference is params.yaml's ({reference}). Each "
        f"final model is judged on the {images} test images against the reference's, image by "
        f"image (McNemar's exact test, Benjamini-Hochberg over the {len(tests)} variants): "
        f"better or worse at p (BH) < {ALPHA}, else {NO_DIFFERENCE}. One run per variant "
        "carries no spread over seeds, so no equivalence is claimed."
    )


def finetuning_verdict(rows):
    found = {}
    for row in rows[1:]:
        found.setdefault(row["vs the reference"], []).append(row["variant"])
    parts = [f"{outcome}: {', '.join(names)}" for outcome, names in found.items()]
    return (
        f"Fine-tuning schedules against {rows[0]['variant']} (test accuracy "
        f"{rows[0]['test accuracy']}), image by image on the test split: {'; '.join(parts)}."
    )


class FinetuneGrid:
    """The kind of the grids whose only key is `finetune`."""

    name = "finetuning"  # in the runs file
    Results = FinetuneResults

    @staticmethod
    def spelled_by(entry):
        return isinstance(entry, dict) and list(entry) == [GRID_KEY]

    def __init__(self, request):
        self.request = request
        self.variants = finetuning_variants(request)
        self.baseline = self.variants[0].name

    @property
    def runs(self):
        return [variant.run() for variant in self.variants]

    def run(self, runner):
        """Every fine-tuning variant (and params.yaml's, the reference) through `finetune` and
        `evaluate`: the raw results, each run's test predictions and validation curve."""
        started = time.monotonic()
        runner.run_variants(self.request.name, self.runs)
        print(f"study: the fine-tuning runs took {time.monotonic() - started:.0f} s")
        finished = succeeded([variant.name for variant in self.variants])
        if self.baseline not in finished:
            raise UserError(f"{self.baseline}, the reference, did not finish; see the logs above")
        return {
            "kind": self.name,
            **self.request.identity(),
            "baseline": self.baseline,
            "variants": {v.name: v.record() for v in self.variants if v.name in finished},
            "runs": read_finetuning_runs(finished),
        }

    @staticmethod
    def publish(results, settings, pages=()):
        """One row per variant, tested against the reference image by image, the validation
        figure and the page blocks, from the raw `results`; returns the table's Markdown."""
        grid, runs, reference = results["grid"], results["runs"], results["baseline"]
        tests = judge_finetuning(runs, reference)
        rows = finetuning_rows(runs, reference, tests)
        verdict = finetuning_verdict(rows)
        plot_finetuning(grid, runs, reference)
        notes = [finetuning_note(runs, reference, tests), verdict]
        return publish_table(results, rows, notes, verdict + "\n", pages)
