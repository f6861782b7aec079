"""The chosen variant fine-tuned: once a grid of heads has picked its variant, the whole pipeline
runs with its params as the experiment `<variant>-finetuned` (its `train` again: seconds, the
same heads; then finetune, evaluate and report), queued like the variants so that the workspace
stays as it was. Its record keeps McNemar's counts of fine-tuning on the test images and its
validation curves."""

import shlex

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import parse_curve
from lrstudy.core.paths import curve_path, summary_file
from lrstudy.experiments import read_experiment_file, read_experiment_json, succeeded
from lrstudy.study.regimes import study_command
from lrstudy.study.results import runs_file
from lrstudy.study.variants import Run

CURVES = ("accuracy", "loss")  # validation, per epoch, of the fine-tuned run


def read_fine_tuning(variant, experiment):
    """The fine-tuned variant's record: its experiment, McNemar's counts of fine-tuning on the
    test images (evaluate's finetuned_vs_scheduled) and its validation curves (steps, values)."""
    evaluation = read_experiment_json(summary_file("evaluate"), experiment)
    curves = {
        metric: parse_curve(
            read_experiment_file(curve_path("finetune", "validation", metric), experiment), metric
        )
        for metric in CURVES
    }
    return {
        "variant": variant,
        "experiment": experiment,
        "test": evaluation["finetuned_vs_scheduled"],
        "validation": {metric: list(curve) for metric, curve in curves.items()},
    }


def fine_tune(runner, variant):
    """Run the whole pipeline with `variant`'s params (a Variant) as `<variant>-finetuned`; its
    record."""
    finetuned = f"{variant.name}-finetuned"
    whole_pipeline = Run(finetuned, tuple(variant.arguments()), targets=())
    runner.run_variants(f"fine-tuning {variant.name}", [whole_pipeline])
    if not succeeded([finetuned]):
        raise UserError(f"{finetuned} failed; its log is above")
    return read_fine_tuning(variant.name, finetuned)


def refuse_another_fine_tuning(results, chosen):
    """Refuse results whose fine-tuned variant is not `chosen`, the one the analysis picks now
    (it changed since they were run)."""
    fine_tuned = results["fine_tuning"]["variant"]
    if chosen != fine_tuned:
        raise UserError(
            f"{runs_file(results['grid'])}: the analysis now fine-tunes {chosen}, but these "
            f"results fine-tuned {fine_tuned}; run the study again "
            f"({shlex.join(['python', '-m', 'lrstudy.study', *study_command(results['grid'])])})"
        )
