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
McNemar's exact test against params.yaml's schedule (the reference, run as a variant too),
Benjamini-Hochberg over the variants.
"""

from dataclasses import dataclass

from lrstudy.core.config import ScheduleConfig, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.outputs import parse_curve
from lrstudy.core.paths import PREDICTIONS, curve_path
from lrstudy.reporting.measures import percent
from lrstudy.statistics import ALPHA, adjust_p_values, mcnemar_exact
from lrstudy.study.grid import grid_settings, set_arguments
from lrstudy.study.runner import read_experiment_file, read_experiment_json

GRID_KEY = "finetune"


def is_finetuning(families):
    """Whether a grid of study.yaml varies fine-tuning's schedule rather than the heads'."""
    return isinstance(families, dict) and list(families) == [GRID_KEY]


@dataclass(frozen=True)
class FinetuneVariant:
    schedule: ScheduleConfig

    @property
    def name(self):
        """finetune-cosine-lr0.0001-warmup1-min0"""
        return f"{GRID_KEY}-{self.schedule.variant_name()}"

    def arguments(self):
        """The `-S finetune.schedule.key=value` arguments of `dvc exp run`."""
        return set_arguments("finetune.schedule", self.schedule.as_params())


def finetuning_variants(grid, families, settings, path):
    """({name: FinetuneVariant} of a fine-tuning grid, each schedule checked for a run of
    `settings.epochs` (the FinetuneConfig); the reference's name): params.yaml's schedule
    first, the reference every variant is tested against."""
    reference = FinetuneVariant(settings.schedule)
    variants = {reference.name: reference}
    for family, values in grid_settings(path, f"{grid}.{GRID_KEY}", families[GRID_KEY]):
        schedule = parse_schedule(
            {"name": family, **values},
            settings.epochs,
            f"{grid}.{GRID_KEY}.{family}",
            path,
            epochs_key="finetune.epochs",
        )
        variant = FinetuneVariant(schedule)
        if variant.name in variants and variant.name != reference.name:
            raise UserError(f"{path}: {grid} names {variant.name} twice; drop one")
        variants[variant.name] = variant
    return variants, reference.name


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


def finetuning_results(grid, reference, runs, variants):
    """The record of a fine-tuning grid, as the runs file keeps it."""
    settings = {name: variant.schedule.as_params() for name, variant in variants.items()}
    return {
        "grid": grid,
        "finetuning": {"reference": reference, "settings": settings, "runs": runs},
    }


def correct(run):
    return [label == guess for label, guess in zip(run["labels"], run["predicted"], strict=True)]


def judge_finetuning(record):
    """{variant: McNemar's exact test against the reference, with `p_adjusted` (BH over the
    variants)}."""
    runs, reference = record["runs"], record["reference"]
    tests = {
        name: mcnemar_exact(correct(runs[reference]), correct(run))
        for name, run in runs.items()
        if name != reference
    }
    adjusted = adjust_p_values([test["p_value"] for test in tests.values()])
    for test, p_adjusted in zip(tests.values(), adjusted, strict=True):
        test["p_adjusted"] = p_adjusted
    return tests


def mcnemar_outcome(test):
    if test["p_adjusted"] >= ALPHA:
        return "no difference shown"
    return "better" if test["only_after_correct"] > test["only_before_correct"] else "worse"


def finetuning_rows(record, tests):
    """One row per variant, the reference first, then by test accuracy."""
    runs, reference = record["runs"], record["reference"]

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
                "vs the reference": mcnemar_outcome(test) if test else "(reference)",
            }
        )
    return rows


def finetuning_note(record, tests):
    images = len(record["runs"][record["reference"]]["labels"])
    return (
        f"Each variant is one fine-tuning run (one seed) of the same scheduled head with its "
        f"`finetune.schedule.*`; the reference is params.yaml's ({record['reference']}). Each "
        f"final model is judged on the {images} test images against the reference's, image by "
        f"image (McNemar's exact test, Benjamini-Hochberg over the {len(tests)} variants): "
        f"better or worse at p (BH) < {ALPHA}, else no difference shown. One run per variant "
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
