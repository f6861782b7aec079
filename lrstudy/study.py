"""The whole study in one command: a grid of schedules as `dvc exp` variants, the best fine-tuned.

    python -m lrstudy.study --grid seed003 [--jobs 2] [--readme README.md]

1. Brings the shared stages up to date (`dvc repro baseline`: fetch, split, features), then
   queues each variant of the grid in study.yaml that has no experiment yet:
   `dvc exp run --queue -n exp-lr0.01-k0.3 -S schedule.name=exp ... train`.
2. Runs the queue (`dvc queue start`) and waits, with a progress bar; a failed variant's log is
   printed and the others go on.
3. Reads every variant's per-seed curves (metrics/train/repeats.json) and tests each against
   the reference, fixed 0.001, paired over seeds (sign-flip permutation test, Benjamini-Hochberg
   over the grid). Picks the best variant by mean final validation accuracy (ties: lower mean
   final validation loss) and runs the whole pipeline with its params as the experiment
   `<variant>-finetuned`: DVC's run-cache restores its `train`, then finetune, evaluate (with
   McNemar's test of fine-tuning) and report run.
4. Writes the comparison: plots/study-<grid>/ (per family, every variant's mean validation
   accuracy and loss with a ± 1 std band; the best of each family against fixed 0.001,
   continued by the fine-tuned best; every variant's final accuracy with its 95 % interval) and
   metrics/study-<grid>.{md,csv} (all variants, best first, then the generated verdicts).

Re-running it with nothing changed trains nothing: existing experiments are reused by name.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dvc.api
import yaml
from tqdm import tqdm

from lrstudy.errors import UserError, reports_user_errors
from lrstudy.figures import plot_curves, plot_intervals
from lrstudy.layout import METRICS_DIR, PLOTS_DIR, replace_marked_block, write_table
from lrstudy.params import choice, load_params, number
from lrstudy.schedules import SCHEDULES, check_values, variant_name
from lrstudy.statistics import (
    ALPHA,
    compare_with_reference,
    comparison_verdict,
    curve_band,
    interval,
    loss_mean_std,
    mcnemar_verdict,
    mean_std,
    per_seed_results,
    summarize,
)
from lrstudy.tracking import read_curve

GRIDS_FILE = Path("study.yaml")
REFERENCE = "fixed-lr0.001"  # the seeds' best fixed rate, which every decay is compared with
REPEATS_FILE = "metrics/train/repeats.json"  # every seed's curves of a variant
EVALUATE_FILE = "metrics/evaluate/metrics.json"
FINISHED = ("Success", "Failed")
EPOCH_LABEL = "epoch (0-based)"


def load_grid(grid, epochs, path=GRIDS_FILE):
    """[(name, family, {schedule key: value})] of a grid, each checked like schedule.* params
    for a run of `epochs` epochs."""
    grids = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if grid not in grids:
        raise UserError(f"{path} has no grid {grid!r}; it has {', '.join(grids)}")
    variants = []
    for family, settings in grids[grid].items():
        name = choice({"schedule": {"name": family}}, "schedule.name", tuple(SCHEDULES))
        for values in settings:
            checked = check_values(name, values, epochs)
            variants.append((variant_name(name, checked), name, checked))
    return variants


def set_params(family, values):
    pairs = {"name": family, **values}
    return [arg for key, value in pairs.items() for arg in ("-S", f"schedule.{key}={value}")]


def run_dvc(*args, capture=False):
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args], capture_output=capture, text=True, check=False
    )
    if result.returncode != 0:
        details = f":\n{result.stdout}{result.stderr}" if capture else ""
        raise UserError(f"`dvc {' '.join(args)}` failed{details}")
    return result.stdout


def queue_states(names):
    """{variant: Queued | Running | Success | Failed} from `dvc queue status`."""
    states = {}
    for line in run_dvc("queue", "status", capture=True).splitlines():
        words = line.split()  # task id, name, created (two words), status
        if len(words) > 2 and words[1] in names and words[-1] in ("Queued", "Running", *FINISHED):
            states[words[1]] = words[-1]
    return states


def start_queue(jobs):
    """`dvc queue start`, its output through a file: the workers it leaves running inherit it,
    and a pipe they held open would keep whoever reads this command's output waiting for them."""
    with tempfile.TemporaryFile("w+") as output:
        started = subprocess.run(
            [sys.executable, "-m", "dvc", "queue", "start", "--jobs", str(jobs)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        output.seek(0)
        if started.returncode != 0:
            raise UserError(f"`dvc queue start --jobs {jobs}` failed:\n{output.read()}")
        print(output.read(), end="")


def run_queue(names, jobs):
    start_queue(jobs)
    states = {}
    with tqdm(total=len(names), desc="variants", unit="exp") as bar:
        while True:
            states = queue_states(set(names))
            done = sum(state in FINISHED for state in states.values())
            bar.update(done - bar.n)
            if done == len(names):
                break
            time.sleep(5)
    for name, state in states.items():
        if state == "Failed":
            print(
                f"study: variant {name} failed; its log:\n"
                + run_dvc("queue", "logs", name, capture=True)
            )
    return [name for name, state in states.items() if state == "Success"]


def wall_times(names):
    """{experiment: wall time of its `train` stage} of the named experiments, from
    `dvc exp show`."""
    return {
        row["Experiment"]: row["metrics/train/time.json:wall_time_s"]
        for row in dvc.api.exp_show(repo=".")
        if row.get("Experiment") in names
    }


def read_experiment_json(path, rev):
    return json.loads(dvc.api.read(path, repo=".", rev=rev))


def rank(summaries):
    """Variant names, best first: highest mean final val accuracy, ties to the lower mean final
    val loss."""
    return sorted(
        summaries,
        key=lambda name: (
            -summaries[name]["final_val_accuracy"]["mean"],
            summaries[name]["final_val_loss"]["mean"],
        ),
    )


def study_rows(summaries, tests, times, seeds):
    """The study table, best first: each variant's mean ± std over seeds, and its paired test
    against the reference (blank on the reference's own row)."""
    rows = []
    for name in rank(summaries):
        summary, test = summaries[name], tests.get(name)
        rows.append(
            {
                "variant": name,
                "seeds": seeds[name],
                "final val accuracy": mean_std(summary["final_val_accuracy"]),
                "its 95 % interval": interval(summary["final_val_accuracy"]),
                "best val accuracy": mean_std(summary["best_val_accuracy"]),
                "final val loss": loss_mean_std(summary["final_val_loss"]),
                f"vs {REFERENCE} (points)": f"{100 * test['mean_difference']:+.2f}" if test else "",
                "p": f"{test['p_value']:.3g}" if test else "",
                "p (BH)": f"{test['p_adjusted']:.3g}" if test else "",
                "wall time (s)": times.get(name, ""),
            }
        )
    return rows


def study_verdict(best, summaries, tests, seeds):
    """The sentence on the best variant against the reference, from the paired tests."""
    if REFERENCE not in summaries:
        return f"The grid has no {REFERENCE}, the reference: no test against it."
    if best == REFERENCE:
        return (
            f"{REFERENCE}, the reference, has the highest mean final validation accuracy of the "
            f"grid ({mean_std(summaries[REFERENCE]['final_val_accuracy'])} over {seeds} seeds): "
            "no schedule of this grid does better."
        )
    return comparison_verdict(
        best,
        summaries[best]["final_val_accuracy"],
        REFERENCE,
        summaries[REFERENCE]["final_val_accuracy"],
        tests[best],
        seeds,
        adjusted=tests[best]["p_adjusted"],
        comparisons=len(tests),
    )


def count_significant(tests):
    better = sorted(
        name
        for name, test in tests.items()
        if test["p_adjusted"] < ALPHA and test["mean_difference"] > 0
    )
    worse = sorted(
        name
        for name, test in tests.items()
        if test["p_adjusted"] < ALPHA and test["mean_difference"] < 0
    )
    return (
        f"After Benjamini-Hochberg over the {len(tests)} comparisons with {REFERENCE}, "
        f"{len(better)} variants are significantly better ({', '.join(better) or 'none'}) and "
        f"{len(worse)} significantly worse ({', '.join(worse) or 'none'}) at {ALPHA}."
    )


def render_comparison(grid, histories, summaries, ranking, finetuned):
    """Per family, every variant's mean validation curve with its ± 1 std band; the best of
    each family against the reference, continued by the fine-tuned best; and every variant's
    final validation accuracy with its 95 % interval."""
    out = PLOTS_DIR / f"study-{grid}"
    families = {
        family: [name for name in ranking if name.startswith(f"{family}-")] for family in SCHEDULES
    }
    compared = [members[0] for members in families.values() if members]
    if REFERENCE in histories and REFERENCE not in compared:
        compared.append(REFERENCE)
    solid, dashed_black = {"linestyle": "-"}, {"linestyle": "--", "color": "k"}
    for metric, ylabel, log_scale in (
        ("accuracy", "validation accuracy", False),
        ("loss", "validation loss", True),
    ):

        def band(name, metric=metric):
            epochs = list(range(len(histories[name][f"val_{metric}"][0])))
            mean, std = curve_band(histories[name][f"val_{metric}"])
            return (name, epochs, mean, solid, std)

        for family, members in families.items():
            if members:
                plot_curves(
                    [band(name) for name in members],
                    EPOCH_LABEL,
                    ylabel,
                    f"{grid}: {family} schedules (mean over seeds, band ± 1 std)",
                    out / f"{family}_{metric}.png",
                    log_scale,
                )
        curves = [band(name) for name in compared]
        curves.append(
            (finetuned, *read_curve("finetune", "eval", metric, rev=finetuned), dashed_black)
        )
        plot_curves(
            curves,
            EPOCH_LABEL,
            ylabel,
            f"{grid}: best of each family, {REFERENCE}, the best fine-tuned (one run)",
            out / f"best_{metric}.png",
            log_scale,
        )
    plot_intervals(
        {name: summaries[name]["final_val_accuracy"] for name in ranking},
        REFERENCE,
        f"{grid}: final validation accuracy, mean and 95 % interval over seeds",
        out / "final_accuracy.png",
    )
    return out


def run_grid(grid, variants, jobs):
    """Bring the shared stages up to date, then queue and run the variants that have no
    experiment yet; the names of the experiments that existed before."""
    print("study: bringing fetch, split, features and baseline up to date")
    run_dvc("repro", "baseline")
    # Queued experiments see only what git tracks: without dvc.lock each would recompute features.
    if subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dvc.lock"], capture_output=True
    ).returncode:
        print("study: staging dvc.lock (git add) so that queued variants reuse the cached stages")
        subprocess.run(["git", "add", "dvc.lock"], check=True)
    existing = {row.get("Experiment") for row in dvc.api.exp_show(repo=".")}
    to_run = [(name, family, values) for name, family, values in variants if name not in existing]
    print(f"study: {len(variants)} variants in {grid}, {len(variants) - len(to_run)} already run")
    for name, family, values in to_run:
        run_dvc("exp", "run", "--queue", "-n", name, *set_params(family, values), "train")
    if to_run:
        run_queue([name for name, _, _ in to_run], jobs)
    return existing


def analyse(names):
    """Every seed's curves of the named experiments; per variant, the summaries over seeds of
    its final and best validation figures; and the paired tests against the reference."""
    histories = {name: read_experiment_json(REPEATS_FILE, name)["history"] for name in names}
    results = {name: per_seed_results(history) for name, history in histories.items()}
    summaries = {
        name: {key: summarize(values) for key, values in result.items()}
        for name, result in results.items()
    }
    tests = {}
    if REFERENCE in results:
        finals = {name: result["final_val_accuracy"] for name, result in results.items()}
        tests = compare_with_reference(finals, REFERENCE)
    return histories, summaries, tests


@reports_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="seed003", help="a top-level key of study.yaml")
    parser.add_argument("--jobs", type=int, default=1, help="variants run at the same time")
    parser.add_argument(
        "--readme",
        type=Path,
        help="also put the table and verdicts into this file, between "
        "<!-- study-GRID:start --> and <!-- study-GRID:end -->",
    )
    args = parser.parse_args(argv)
    epochs = number(load_params(), "train.epochs", minimum=1, integer=True)
    variants = load_grid(args.grid, epochs)
    names = [name for name, _, _ in variants]

    existing = run_grid(args.grid, variants, args.jobs)
    finished = wall_times(set(names))
    if not finished:
        raise UserError(f"no variant of {args.grid} finished; see the logs above")
    histories, summaries, tests = analyse([name for name in names if name in finished])
    ranking = rank(summaries)
    best, seeds = ranking[0], {name: len(histories[name]["val_accuracy"]) for name in histories}
    print(
        f"study: best variant {best}: final val accuracy "
        f"{mean_std(summaries[best]['final_val_accuracy'])} over {seeds[best]} seeds "
        "(highest mean, ties to the lower mean loss)"
    )
    finetuned = f"{best}-finetuned"
    # The run-cache restores the variant's `train` instead of rerunning it.
    if finetuned not in existing:
        _, family, values = next(variant for variant in variants if variant[0] == best)
        run_dvc("exp", "run", "-n", finetuned, *set_params(family, values))
    fine_tuning = read_experiment_json(EVALUATE_FILE, finetuned)["finetune_vs_train"]
    notes = [
        study_verdict(best, summaries, tests, seeds[best]),
        *([count_significant(tests)] if tests else []),
        f"{finetuned}: " + mcnemar_verdict(fine_tuning),
    ]
    out = render_comparison(args.grid, histories, summaries, ranking, finetuned)
    table = write_table(
        METRICS_DIR / f"study-{args.grid}", study_rows(summaries, tests, finished, seeds), notes
    )
    print(table, end="")
    if args.readme:
        replace_marked_block(args.readme, f"study-{args.grid}", table)
    print(f"study: figures in {out}/, table in {METRICS_DIR}/study-{args.grid}.md")


if __name__ == "__main__":
    main()
