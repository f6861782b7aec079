"""The benchmark: this pipeline's speed against the reference reports' method and the hardware.

    python -m bench.run [--dataset data/caltech101-animals.tar]

Everything is measured in one run on one machine, comparisons side by side (these machines are
noisy: ratios mean more than seconds). Writes bench/results.json, bench/results.md and the
results section of docs/performance.md. Takes about 13 minutes on a 2-core CPU.

1. one head epoch the reference reports' way (images -> frozen backbone -> head) vs on cached
   features; ten seeds of the head in one graph vs one by one (bench/measure.py);
2. images/s of the `features` stage on each runtime vs the bare Keras forward on in-memory
   tensors;
3. backbone throughput and GFLOP/s at several batch sizes, and CPU tuning trials
   (bench/forward.py, a fresh process each);
4. DVC overhead: `dvc exp run -S schedule.k=0.3 train` and its parts (the stage alone, its
   imports, its training and writing), and a no-op `dvc repro`;
5. fine-tuning training images/s on each runtime vs the same bare forward (and on a GPU);
6. a study's variant: its wall time in a grid on each of the study's runners (DVC's queue, and
   the kept checkouts it uses by default) at `--jobs 1` and `--jobs 2` against the training
   inside it (the heads on the split's seeds and on every fold and seed), the rest being the
   runner's, DVC's and the interpreter's work;
7. one variant's training at the reference reports' size (14,000 images, 20 classes) on random
   features, and from it and items 2, 5 and 6 the `reference` grid's time at that size.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import tensorflow as tf

from bench.measure import BACKBONE, measure_in_process
from bench.table import markdown
from lrstudy.backbone.litert import THREADS
from lrstudy.core.config import load_config
from lrstudy.core.errors import UserError
from lrstudy.core.paths import DATASET_REPORT, folds_file, repeats_file, time_file
from lrstudy.experiments import run_dvc, with_this_python
from lrstudy.pages import replace_marked_block
from lrstudy.study.checkouts import KeptCheckouts
from lrstudy.study.grids import GRIDS_FILE, Request, grid_entry
from lrstudy.study.kinds import kind_of
from lrstudy.study.queue import Queue
from lrstudy.study.variants import HEADS_TARGETS, Run
from tests.helpers.sandbox import EMBEDDED_DATASET, REPO_ROOT, make_project

RESULTS_DIR = REPO_ROOT / "bench"
BATCH_SIZES = ("1", "8", "32")
# CPU settings tried on the Lite0 forward at batch 32 against the defaults, each in a fresh process.
TUNING_TRIALS = {
    "oneDNN off": ([], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "1 intra-op thread": (["--threads", "1"], {}),
    "XLA (jit_compile)": (["--xla"], {}),
    "mixed_bfloat16": (["--precision", "mixed_bfloat16"], {}),
}


def timed_dvc(*args, cwd):
    """Seconds a `dvc` command takes, failing loudly with its output."""
    started = time.perf_counter()
    run_dvc(*args, cwd=cwd)
    return time.perf_counter() - started


def timed_python(*args, cwd):
    """Seconds this interpreter takes to run `python ARGS`, failing loudly with its output."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench: python {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def bench_project(workdir, dataset):
    """A git + DVC project with this repository's pipeline, pointed at `dataset` and Lite0."""
    overrides = {"backbone.name": BACKBONE.name, "finetune.epochs": 1}
    if Path(dataset).resolve() != EMBEDDED_DATASET:
        overrides["data.source"] = str(Path(dataset).resolve())
    return make_project(Path(workdir, "project"), overrides)


def measure_pipeline(project):
    """Items 2 (stage side) and 4: the whole pipeline once, then DVC's own overhead."""
    print("bench: dvc repro (the whole pipeline, fine-tuning 1 epoch) ...", flush=True)
    repro_s = timed_dvc("repro", cwd=project)
    noop = [timed_dvc("repro", cwd=project) for _ in range(3)]
    print("bench: dvc exp run -S schedule.k=0.3 train ...", flush=True)
    exp_run_s = timed_dvc("exp", "run", "-S", "schedule.k=0.3", "train", cwd=project)
    training = json.loads((project / time_file("train")).read_text())
    print("bench: the train stage alone, and the imports it starts with ...", flush=True)
    stage_s = timed_python("-m", "stages.train", cwd=project)
    import_s = timed_python("-c", "import stages.train, lrstudy.heads.repeats", cwd=project)

    def read(path):
        return json.loads((project / path).read_text())

    return {
        "repro_s": round(repro_s, 1),
        "noop_repro_s": round(statistics.median(noop), 2),
        "exp_run_s": round(exp_run_s, 1),
        "features_stage_images_per_s": read(time_file("features"))["images_per_s"],
        "train_stage_s": round(stage_s, 1),
        "import_s": round(import_s, 1),
        "train_stage_training_s": training["wall_time_s"],
        "train_stage_writing_s": training["writing_s"],
        "train_stage_folds_s": training["folds_s"],
        "train_stage_repeats": len(read(repeats_file("train"))["seeds"]),
        "train_stage_folds": len(read(folds_file("train"))["images"]["test"]),
    }


GRID_VARIANTS = 4  # per grid: exp decays that differ in k only, each a new experiment
RUNNERS = {"queue": Queue, "checkouts": KeptCheckouts}  # `--queue`, and the default


def grid_on(project, runner, jobs, first_k):
    """Item 6: `GRID_VARIANTS` new variants on the study's `runner` (a RUNNERS key), `jobs` at
    a time: the grid's wall time and, in kept checkouts, each variant's steps (its checkout,
    `dvc exp run`, the push, and the training inside the run). A queued experiment keeps no
    stage timings, which git ignores: there a variant's training is item 4's."""
    runs = [
        Run(
            f"bench-{runner}{jobs}-k{first_k + 0.1 * index:.1f}",
            ("-S", "schedule.name=exp", "-S", f"schedule.k={first_k + 0.1 * index:.1f}"),
            HEADS_TARGETS,
        )
        for index in range(GRID_VARIANTS)
    ]
    print(f"bench: {len(runs)} variants, {runner}, --jobs {jobs} ...", flush=True)
    os.chdir(project)
    try:
        with RUNNERS[runner](jobs) as running:
            started = time.perf_counter()
            running.run_variants(f"bench {runner} --jobs {jobs}", runs)
            grid_s = time.perf_counter() - started
    finally:
        os.chdir(REPO_ROOT)
    found = {"variants": len(runs), "grid_s": round(grid_s, 1)}
    if steps := getattr(running, "steps", None):
        found["steps"] = [{step: round(s, 2) for step, s in laps.items()} for laps in steps]
    return found


def measure_variants(project):
    """Item 6 on each runner at --jobs 1 and 2, the shared stages already up to date."""
    # Item 4's `dvc exp run` left its values in params.yaml, and the runners run the commit.
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=project, check=True)
    subprocess.run(["git", "add", "dvc.lock"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "the shared stages"], cwd=project, check=True)
    found, first_k = {}, 2.0
    for runner in RUNNERS:
        for jobs in (1, 2):
            for attempt in range(2):  # DVC's queue now and then loses a task with its worker
                first_k += 1
                try:
                    found[f"{runner}_jobs_{jobs}"] = grid_on(project, runner, jobs, first_k)
                    break
                except UserError as error:
                    print(f"bench: {runner} --jobs {jobs}: {error}", flush=True)
                    if attempt:
                        raise
                    run_dvc("queue", "stop", "--kill", cwd=project, check=False)
            found[f"{runner}_jobs_{jobs}"]["attempts"] = attempt + 1
    return found


def measure_forward(configurations):
    """Item 3: {label: [result per batch size]} from bench.forward in fresh processes."""
    results = {}
    for label, (arguments, env) in configurations.items():
        print(f"bench: forward pass, {label} ...", flush=True)
        result = subprocess.run(
            [sys.executable, "-m", "bench.forward", *arguments],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if result.returncode:
            sys.exit(f"bench: bench.forward {' '.join(arguments)} failed:\n{result.stderr[-3000:]}")
        lines = result.stdout.splitlines()
        results[label] = [json.loads(line) for line in lines if line.startswith("{")]
    return results


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def forward_configurations():
    """(the defaults and LiteRT, the CPU tuning trials) for bench.forward."""
    both = ["--backbones", "efficientnet_b0", BACKBONE.name]
    return (
        {
            "defaults": ([*both, "--batch-sizes", *BATCH_SIZES], {}),
            "LiteRT (XNNPACK)": ([*both, "--batch-sizes", "32", "--litert"], {}),
        },
        {
            label: (["--backbones", BACKBONE.name, "--batch-sizes", "32", *arguments], env)
            for label, (arguments, env) in TUNING_TRIALS.items()
        },
    )


def reference_grid_variants():
    """How many variants this repository's `reference` grid runs (item 7's projection)."""
    config = load_config(REPO_ROOT / "params.yaml")
    entry = grid_entry("reference", REPO_ROOT / GRIDS_FILE)
    return len(kind_of(entry)(Request("reference", entry, config, GRIDS_FILE, None)).runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default=str(EMBEDDED_DATASET),
        help="a folder with one sub-folder of images per class, or an archive of one",
    )
    dataset = Path(parser.parse_args().dataset)
    if not dataset.exists():
        sys.exit(f"bench: no dataset at {dataset}; pass --dataset <folder or archive of one>")

    # The stages' `python` (dvc.yaml's cmd) is this venv's, activated or not.
    os.environ.update(with_this_python())
    started = time.perf_counter()
    results = {"dataset": dataset.name, "machine": machine()}
    defaults, tuning = forward_configurations()
    results["forward"], results["tuning"] = measure_forward(defaults), measure_forward(tuning)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        project = bench_project(workdir, dataset)
        results["pipeline"] = measure_pipeline(project)
        results["variants"] = measure_variants(project)
        report = json.loads((project / DATASET_REPORT).read_text())
        results["dataset_images"] = report["num_images"]
        results["in_process"] = measure_in_process(project)
        os.chdir(REPO_ROOT)
    results["reference_grid_variants"] = reference_grid_variants()
    results["bench_s"] = round(time.perf_counter() - started, 1)

    # The measurements first: a table that fails to render loses none of them.
    (RESULTS_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, THREADS)
    (RESULTS_DIR / "results.md").write_text(table, encoding="utf-8")
    replace_marked_block(REPO_ROOT / "docs" / "performance.md", "bench", table)
    print(table)


if __name__ == "__main__":
    main()
