"""The whole study in one command: a grid of schedules as `dvc exp` variants, the best fine-tuned.

    python -m lrstudy.study --grid seed003 [--jobs 2]

1. Brings the shared stages up to date (`dvc repro baseline`: fetch, split, features), then
   queues each variant of the grid in study.yaml that has no experiment yet:
   `dvc exp run --queue -n exp-lr0.01-k0.3 -S schedule.name=exp ... train`.
2. Runs the queue (`dvc queue start`) and waits, with a progress bar; a failed variant's log is
   printed and the others go on.
3. Picks the best variant by final validation accuracy (ties: lower final validation loss) and
   runs the whole pipeline with its params as the experiment `<variant>-finetuned`: DVC's
   run-cache restores its `train`, then finetune, evaluate and report run.
4. Writes the comparison: plots/study-<grid>/ (per family, every variant's validation accuracy
   and loss; the best of each family against fixed 0.001, continued by the fine-tuned best) and
   metrics/study-<grid>.{md,csv} (all variants, best first).

Re-running it with nothing changed trains nothing: existing experiments are reused by name.
"""

import argparse
import functools
import subprocess
import sys
import time
from pathlib import Path

import dvc.api
import yaml
from tqdm import tqdm

from lrstudy.errors import UserError, reports_user_errors
from lrstudy.figures import plot_curves
from lrstudy.layout import METRICS_DIR, PLOTS_DIR, write_table
from lrstudy.params import choice, load_params, number
from lrstudy.schedules import SCHEDULES, check_values, variant_name
from lrstudy.tracking import read_curve

GRIDS_FILE = Path("study.yaml")
REFERENCE = "fixed-lr0.001"  # the seeds' best fixed rate, which every decay is compared with
TRAIN_METRICS = "metrics/train/metrics.json"
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


def pick_best(rows):
    """The row with the highest final val accuracy; ties go to the lower final val loss."""
    return max(rows, key=lambda row: (row["final val accuracy"], -row["final val loss"]))


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


def run_queue(names, jobs):
    run_dvc("queue", "start", "--jobs", str(jobs))
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


def train_metric(row, key):
    """One of `train`'s metrics in a row of `dvc exp show`."""
    return row[f"{TRAIN_METRICS}:{key}"]


def experiment_rows(names):
    """Table rows of the named experiments, from `dvc exp show`."""
    rows = []
    for row in dvc.api.exp_show(repo="."):
        if row.get("Experiment") in names:
            metric = functools.partial(train_metric, row)
            rows.append(
                {
                    "variant": row["Experiment"],
                    "final val accuracy": round(metric("eval.accuracy"), 4),
                    "best val accuracy": round(metric("best_val_accuracy"), 4),
                    "best epoch": int(metric("best_epoch")),
                    "final val loss": round(metric("eval.loss"), 4),
                    "wall time (s)": row["metrics/train/time.json:wall_time_s"],
                }
            )
    return sorted(rows, key=lambda row: (-row["final val accuracy"], row["final val loss"]))


def render_comparison(grid, rows, finetuned):
    """Per-family curves of every finished variant, and the best of each family compared."""
    out = PLOTS_DIR / f"study-{grid}"
    families = {
        family: [row for row in rows if row["variant"].startswith(f"{family}-")]
        for family in SCHEDULES
    }
    compared = [pick_best(members)["variant"] for members in families.values() if members]
    if REFERENCE in {row["variant"] for row in rows} and REFERENCE not in compared:
        compared.append(REFERENCE)
    solid, dashed_black = {"linestyle": "-"}, {"linestyle": "--", "color": "k"}
    for metric, ylabel, log_scale in (
        ("accuracy", "validation accuracy", False),
        ("loss", "validation loss", True),
    ):
        for family, members in families.items():
            if members:
                curves = [
                    (
                        row["variant"],
                        *read_curve("train", "eval", metric, rev=row["variant"]),
                        solid,
                    )
                    for row in members
                ]
                plot_curves(
                    curves,
                    EPOCH_LABEL,
                    ylabel,
                    f"{grid}: {family} schedules",
                    out / f"{family}_{metric}.png",
                    log_scale,
                )
        curves = [
            (name, *read_curve("train", "eval", metric, rev=name), solid) for name in compared
        ]
        curves.append(
            (finetuned, *read_curve("finetune", "eval", metric, rev=finetuned), dashed_black)
        )
        plot_curves(
            curves,
            EPOCH_LABEL,
            ylabel,
            f"{grid}: best of each family, fixed 0.001, the best fine-tuned",
            out / f"best_{metric}.png",
            log_scale,
        )
    return out


@reports_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", default="seed003", help="a top-level key of study.yaml")
    parser.add_argument("--jobs", type=int, default=1, help="variants run at the same time")
    args = parser.parse_args(argv)
    epochs = number(load_params(), "train.epochs", minimum=1, integer=True)
    variants = load_grid(args.grid, epochs)
    names = [name for name, _, _ in variants]

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
    print(
        f"study: {len(variants)} variants in {args.grid}, {len(variants) - len(to_run)} already run"
    )
    for name, family, values in to_run:
        run_dvc("exp", "run", "--queue", "-n", name, *set_params(family, values), "train")
    if to_run:
        run_queue([name for name, _, _ in to_run], args.jobs)

    rows = experiment_rows(set(names))
    if not rows:
        raise UserError(f"no variant of {args.grid} finished; see the logs above")
    best = pick_best(rows)
    print(
        f"study: best variant {best['variant']}: final val accuracy {best['final val accuracy']}, "
        f"final val loss {best['final val loss']} (highest accuracy, ties to the lower loss)"
    )
    finetuned = f"{best['variant']}-finetuned"
    # The run-cache restores the variant's `train` instead of rerunning it.
    if finetuned not in existing:
        _, family, values = next(variant for variant in variants if variant[0] == best["variant"])
        run_dvc("exp", "run", "-n", finetuned, *set_params(family, values))
    out = render_comparison(args.grid, rows, finetuned)
    print(write_table(METRICS_DIR / f"study-{args.grid}", rows), end="")
    print(f"study: figures in {out}/, table in {METRICS_DIR}/study-{args.grid}.md")


if __name__ == "__main__":
    main()
