"""The benchmark: this pipeline's speed against the reference reports' method and the hardware.

    python -m bench.run [--dataset data/caltech101-animals.tar]

Everything is measured in one run on one machine, comparisons side by side (these machines are
noisy: ratios mean more than seconds). Writes bench/results.json, bench/results.md and the
results section of docs/performance.md. Takes 8 to 11 minutes on a 2-core CPU.

1. one head epoch the reference reports' way (images -> frozen backbone -> head) vs on cached
   features; ten seeds of the head in one graph vs one by one (bench/measure.py);
2. images/s of the `features` stage on each runtime vs the bare Keras forward on in-memory
   tensors;
3. backbone throughput and GFLOP/s at several batch sizes, and CPU tuning trials
   (bench/forward.py, a fresh process each);
4. DVC overhead: `dvc exp run -S schedule.k=0.3 train` and its parts (the stage alone, its
   imports, its training and writing), and a no-op `dvc repro`;
5. fine-tuning training images/s on each runtime vs the same bare forward (and on a GPU).
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
from lrstudy.core.paths import DATASET_REPORT, folds_file, repeats_file, time_file
from lrstudy.experiments import run_dvc, with_this_python
from lrstudy.pages import replace_marked_block
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
        report = json.loads((project / DATASET_REPORT).read_text())
        results["dataset_images"] = report["num_images"]
        results["in_process"] = measure_in_process(project)
        os.chdir(REPO_ROOT)
    results["bench_s"] = round(time.perf_counter() - started, 1)

    table = markdown(results, THREADS)
    (RESULTS_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS_DIR / "results.md").write_text(table, encoding="utf-8")
    replace_marked_block(REPO_ROOT / "docs" / "performance.md", "bench", table)
    print(table)


if __name__ == "__main__":
    main()
