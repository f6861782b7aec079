"""The benchmark: this pipeline's speed against the seeds' method and against the hardware.

    python -m bench.run [--dataset data/caltech101-animals.tar]

Everything is measured in one run on one machine, comparisons side by side (these machines are
noisy: ratios mean more than seconds). Writes bench/results.json, bench/results.md and the
results section of BENCHMARKS.md. Takes 8 to 11 minutes on a 2-core CPU.

1. one head epoch the seeds' way (images -> frozen backbone -> head) vs on cached features;
2. images/s of the `features` stage (LiteRT) vs the bare Keras forward on in-memory tensors;
3. backbone throughput and GFLOP/s at several batch sizes, and CPU tuning trials;
4. DVC overhead: `dvc exp run -S schedule.k=0.3 train` and a no-op `dvc repro`;
5. fine-tuning training images/s vs the same bare forward (and on a GPU, when one is visible).
"""

import argparse
import functools
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

import keras
import numpy as np
import tensorflow as tf

from bench.forward import multiply_accumulates
from lrstudy.backbones import build_backbone, pooled_features
from lrstudy.finetuning import build_finetune_model, finetune_datasets, finetune_models
from lrstudy.head import (
    STEPS_PER_EXECUTION,
    build_head,
    compile_classifier,
    feature_batches,
    load_features,
)
from lrstudy.images import image_dataset
from lrstudy.layout import read_classes, read_split, replace_marked_block
from lrstudy.litert import THREADS, WITHOUT_AUTOTUNE, LiteRTModel
from lrstudy.sandbox import REPO_ROOT, make_project

DEFAULT_DATASET = REPO_ROOT / "data" / "caltech101-animals.tar"  # the embedded default
RESULTS_DIR = REPO_ROOT / "bench"
BACKBONE = "efficientnet_lite0"  # the backbone whose ImageNet weights are here
BATCH = 32
GRID_VARIANTS, GRID_EPOCHS = 18, 50  # study.yaml's seed003 grid: 18 schedules x 50 epochs
BATCH_SIZES = ("1", "8", "32")
# CPU settings tried on the Lite0 forward at batch 32 against the defaults, each in a fresh process.
TUNING_TRIALS = {
    "oneDNN off": ([], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "1 intra-op thread": (["--threads", "1"], {}),
    "XLA (jit_compile)": (["--xla"], {}),
    "mixed_bfloat16": (["--precision", "mixed_bfloat16"], {}),
}


def run(command, cwd, env=None):
    """Run a command, fail loudly with its output; its wall time in seconds and its stdout."""
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(
            f"bench: `{' '.join(command)}` failed:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return seconds, result.stdout


def bench_project(workdir, dataset):
    """A git + DVC project with this repository's pipeline, pointed at `dataset` and Lite0."""
    overrides = {"model.backbone": BACKBONE, "finetune.epochs": 1}
    if Path(dataset).resolve() != DEFAULT_DATASET:
        overrides["data.source"] = str(Path(dataset).resolve())
    return make_project(Path(workdir, "project"), overrides)


def measure_pipeline(project):
    """Items 2 (stage side) and 4: the whole pipeline once, then DVC's own overhead."""
    print("bench: dvc repro (the whole pipeline, fine-tuning 1 epoch) ...", flush=True)
    repro_s, _ = run(["dvc", "repro"], project)
    noop = [run(["dvc", "repro"], project)[0] for _ in range(3)]
    print("bench: dvc exp run -S schedule.k=0.3 train ...", flush=True)
    exp_run_s, _ = run(["dvc", "exp", "run", "-S", "schedule.k=0.3", "train"], project)

    def metrics(name, file="time.json"):
        return json.loads((project / "metrics" / name / file).read_text())

    return {
        "repro_s": round(repro_s, 1),
        "noop_repro_s": round(statistics.median(noop), 2),
        "exp_run_s": round(exp_run_s, 1),
        "features_stage_images_per_s": metrics("features")["images_per_s"],
        "train_stage_training_s": metrics("train")["wall_time_s"],
        "train_stage_repeats": metrics("train", "metrics.json")["repeats"],
    }


def measure_forward(configurations):
    """Item 3: {label: [result per batch size]} from bench.forward in fresh processes."""
    results = {}
    for label, (arguments, env) in configurations.items():
        print(f"bench: forward pass, {label} ...", flush=True)
        _, output = run([sys.executable, "-m", "bench.forward", *arguments], REPO_ROOT, env)
        results[label] = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return results


class EpochTimer(keras.callbacks.Callback):
    """The wall time of every epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def matmul_gflop_per_s(size=2048, repeats=10):
    """What this CPU sustains on the friendliest work there is: a large float32 matrix product."""
    a = tf.random.uniform((size, size))
    tf.linalg.matmul(a, a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        tf.linalg.matmul(a, a).numpy()
    return round(2 * size**3 * repeats / (time.perf_counter() - started) / 1e9, 1)


def alternated(runs, images, repeats=5):
    """Images/s of each callable: one untimed call each (tracing, conversion), then `repeats`
    rounds in turn; the median, since this machine's noise hits every run of a round alike."""
    for run_once in runs.values():
        run_once()
    rates = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run_once in runs.items():
            started = time.perf_counter()
            run_once()
            rates[name].append(images / (time.perf_counter() - started))
    return {name: round(statistics.median(values), 1) for name, values in rates.items()}


def bare_forward(backbone, count):
    """The bare Keras forward pass to compare with: `predict` on `count` in-memory images. Without
    tf.data's autotuner, which stalled some of its passes as it did LiteRT's (lrstudy/litert.py):
    the baseline at its best."""
    pixels = np.random.default_rng(0).uniform(0, 255, (count, 224, 224, 3)).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices(pixels).batch(BATCH).with_options(WITHOUT_AUTOTUNE)
    return lambda: backbone.predict(batches, verbose=0)


def measure_features(files):
    """Item 2: the `features` stage's own function on real files, on LiteRT and on Keras, against
    the bare Keras forward pass on in-memory tensors."""
    print("bench: the features stage against the bare Keras forward pass ...", flush=True)
    backbone = build_backbone(BACKBONE, "imagenet", 224)
    on_litert = LiteRTModel(backbone)
    on_one_interpreter = LiteRTModel(backbone, interpreters=1, threads_per_interpreter=THREADS)
    rates = alternated(
        {
            "features_images_per_s": lambda: pooled_features(on_litert, files, 224, BATCH),
            "features_one_interpreter_images_per_s": lambda: pooled_features(
                on_one_interpreter, files, 224, BATCH
            ),
            "features_keras_images_per_s": lambda: pooled_features(backbone, files, 224, BATCH),
            "bare_forward_images_per_s": bare_forward(backbone, len(files)),
        },
        len(files),
    )
    return backbone, {**rates, "gmac_per_image": round(multiply_accumulates(backbone) / 1e9, 3)}


def measure_seeds_epoch(backbone, train_split, val_split, num_classes):
    """Item 1, the seeds' way: one head epoch with the frozen backbone in the loop."""
    print(
        "bench: one head epoch the seeds' way (images -> frozen backbone -> head) ...", flush=True
    )
    backbone.trainable = False
    head = build_head(backbone.output_shape[-1], num_classes, 0.0)
    seeds_model = compile_classifier(build_finetune_model(backbone, head), 1e-3)
    train = image_dataset(train_split[0], 224, BATCH, labels=train_split[1], shuffle_seed=42)
    validation = image_dataset(val_split[0], 224, BATCH, labels=val_split[1])
    # Trace both steps first.
    seeds_model.fit(train.take(1), validation_data=validation.take(1), verbose=0)
    timer = EpochTimer()
    seeds_model.fit(train, validation_data=validation, epochs=1, verbose=0, callbacks=[timer])
    return round(timer.seconds[0], 2)


def measure_cached_epochs(num_classes):
    """Item 1, on cached features: the tf.data design against Keras' fit on NumPy arrays."""
    print("bench: head epochs on cached features ...", flush=True)
    (x_train, y_train), (x_val, y_val) = load_features("train"), load_features("val")
    results = {}
    for label, steps_per_execution, as_dataset in (
        ("cached_epoch_s", STEPS_PER_EXECUTION, True),
        ("cached_epoch_numpy_s", 1, False),  # Keras' fit on NumPy arrays, one step per call
    ):
        keras.utils.set_random_seed(42)
        head = compile_classifier(
            build_head(x_train.shape[1], num_classes, 0.0),
            1e-3,
            steps_per_execution=steps_per_execution,
        )
        timer = EpochTimer()
        if as_dataset:
            data = feature_batches(x_train, y_train, BATCH, shuffle_seed=42)
            validation = feature_batches(x_val, y_val, BATCH)
            head.fit(data, validation_data=validation, epochs=21, verbose=0, callbacks=[timer])
        else:
            head.fit(
                x_train,
                y_train,
                batch_size=BATCH,
                validation_data=(x_val, y_val),
                epochs=21,
                verbose=0,
                callbacks=[timer],
            )
        results[label] = round(statistics.median(timer.seconds[1:]), 4)  # epoch 0 traces the graphs
    return results


def measure_finetuning(train_split):
    """Item 5: training images/s of the `finetune` stage's recipe (top 2 blocks, augmented), its
    frozen bottom on LiteRT and on Keras, against the bare Keras forward pass, alternated."""
    print("bench: fine-tuning against the bare Keras forward pass ...", flush=True)
    settings = {"unfreeze_blocks": 2, "lr": 1e-5, "batch_size": BATCH, "augment": True, "seed": 42}
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    runs = {}
    for runtime in ("litert", "keras"):
        models = finetune_models(BACKBONE, "imagenet", 224, settings, runtime)
        frozen = LiteRTModel(models.frozen) if runtime == "litert" else None
        train, _ = finetune_datasets(subset, subset, 224, settings, 1, frozen)
        runs[f"finetune_{runtime}_images_per_s"] = functools.partial(
            models.fitted.fit, train, epochs=1, verbose=0
        )
    backbone = build_backbone(BACKBONE, "imagenet", 224)
    runs["finetune_bare_forward_images_per_s"] = bare_forward(backbone, 8 * BATCH)
    return alternated(runs, 8 * BATCH)


def measure_finetuning_gpu(train_split):
    """Item 5 on a GPU: the Keras recipe with mixed precision."""
    print("bench: fine-tuning on the GPU ...", flush=True)
    keras.mixed_precision.set_global_policy("mixed_float16")
    settings = {"unfreeze_blocks": 2, "lr": 1e-5, "batch_size": BATCH, "augment": True, "seed": 42}
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    with tf.device("/GPU:0"):
        models = finetune_models(BACKBONE, "imagenet", 224, settings, "keras")
        train, _ = finetune_datasets(subset, subset, 224, settings, 1)
        rate = alternated({"gpu": lambda: models.fitted.fit(train, epochs=1, verbose=0)}, 8 * BATCH)
    keras.mixed_precision.set_global_policy("float32")
    return rate["gpu"]


def measure_in_process(project):
    """Items 1, 2 (bare forward) and 5, in this process, on the project's data and models."""
    os.chdir(project)  # the stages' paths (data/raw, data/features, ...) are relative
    classes = read_classes()
    train_split, val_split = read_split("train", classes), read_split("val", classes)
    results = {"matmul_gflop_per_s": matmul_gflop_per_s()}
    backbone, rates = measure_features(train_split[0][: 8 * BATCH])
    results.update(rates)
    results["seeds_epoch_s"] = measure_seeds_epoch(backbone, train_split, val_split, len(classes))
    results.update(measure_cached_epochs(len(classes)))
    results.update(measure_finetuning(train_split))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        results["finetune_gpu_images_per_s"] = measure_finetuning_gpu(train_split)
    results["gpu"] = [device.name for device in gpus]
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


def summary_rows(results):
    """The five measurements as (measurement, value, compared with, ratio, target, met) rows."""
    pipeline, local, forward = results["pipeline"], results["in_process"], results["forward"]
    grid_cached_s = GRID_VARIANTS * GRID_EPOCHS * local["cached_epoch_s"]
    grid_seeds_s = GRID_VARIANTS * GRID_EPOCHS * local["seeds_epoch_s"]
    features_rate, bare_rate = local["features_images_per_s"], local["bare_forward_images_per_s"]
    features_gflop_per_s = 2 * local["gmac_per_image"] * features_rate
    finetune_rate = local["finetune_litert_images_per_s"]
    finetune_bare = local["finetune_bare_forward_images_per_s"]
    default = next(
        row
        for row in forward["defaults"]
        if row["backbone"] == BACKBONE and row["batch_size"] == 32
    )
    tuning = results["tuning"]
    best_trial = max(tuning, key=lambda label: tuning[label][0]["images_per_s"])
    best_trial_rate = tuning[best_trial][0]["images_per_s"]
    finetune_gpu = local.get("finetune_gpu_images_per_s")

    def yes(ok):
        return "yes" if ok else "**no**"

    return [
        (
            "1. one head epoch, seeds' way (images → backbone → head)",
            f"{local['seeds_epoch_s']:.1f} s",
            f"on cached features: {local['cached_epoch_s'] * 1000:.0f} ms",
            f"{local['seeds_epoch_s'] / local['cached_epoch_s']:.0f}×",
            "",
            "",
        ),
        (
            f"1. whole seed003 grid ({GRID_VARIANTS} × {GRID_EPOCHS} epochs), extrapolated",
            f"cached: {grid_cached_s:.0f} s",
            f"seeds' way: {grid_seeds_s / 3600:.1f} h",
            f"{grid_seeds_s / grid_cached_s:.0f}×",
            "grid on cached features < one seeds' epoch",
            yes(grid_cached_s < local["seeds_epoch_s"]),
        ),
        (
            f"2. `features` (read, decode, resize; LiteRT, {THREADS} one-thread interpreters)",
            f"{features_rate:.1f} images/s",
            f"bare Keras forward: {bare_rate:.1f} images/s",
            f"{features_rate / bare_rate:.2f}",
            "≥ 1.8",
            yes(features_rate / bare_rate >= 1.8),
        ),
        (
            f"2. the same on one LiteRT interpreter of {THREADS} threads (the previous design)",
            f"{local['features_one_interpreter_images_per_s']:.1f} images/s",
            "bare Keras forward (above)",
            f"{local['features_one_interpreter_images_per_s'] / bare_rate:.2f}",
            "",
            "",
        ),
        (
            "2. the same with `model.runtime: keras`",
            f"{local['features_keras_images_per_s']:.1f} images/s",
            "bare Keras forward (above)",
            f"{local['features_keras_images_per_s'] / bare_rate:.2f}",
            "",
            "",
        ),
        (
            "2. `features` on LiteRT: arithmetic rate",
            f"{features_gflop_per_s:.1f} GFLOP/s",
            f"2048² float32 matmul: {local['matmul_gflop_per_s']:.0f} GFLOP/s",
            f"{features_gflop_per_s / local['matmul_gflop_per_s']:.2f}",
            "",
            "",
        ),
        (
            "2. the `features` stage as run by `dvc repro`",
            f"{pipeline['features_stage_images_per_s']:.1f} images/s",
            "bare Keras forward (above)",
            f"{pipeline['features_stage_images_per_s'] / bare_rate:.2f}",
            "",
            "",
        ),
        (
            "3. Lite0 forward, batch 32",
            f"{default['images_per_s']:.1f} images/s, {default['gflop_per_s']:.1f} GFLOP/s",
            f"2048² float32 matmul: {local['matmul_gflop_per_s']:.0f} GFLOP/s",
            f"{default['gflop_per_s'] / local['matmul_gflop_per_s']:.2f}",
            "",
            "",
        ),
        (
            "3. best other CPU setting for it",
            f"{best_trial}: {best_trial_rate:.1f} images/s",
            f"defaults: {default['images_per_s']:.1f} images/s",
            f"{best_trial_rate / default['images_per_s']:.2f}",
            "",
            "",
        ),
        (
            "4. `dvc exp run -S schedule.k=0.3 train`",
            f"{pipeline['exp_run_s']:.1f} s",
            f"its training ({pipeline['train_stage_repeats']} seeds): "
            f"{pipeline['train_stage_training_s']:.1f} s",
            f"{pipeline['exp_run_s'] / pipeline['train_stage_training_s']:.1f}×",
            "≤ 30 s",
            yes(pipeline["exp_run_s"] <= 30),
        ),
        (
            "4. no-op `dvc repro` (median of 3)",
            f"{pipeline['noop_repro_s']:.2f} s",
            "",
            "",
            "≤ 5 s",
            yes(pipeline["noop_repro_s"] <= 5),
        ),
        (
            "5. fine-tuning training (top 2 blocks, augmented), frozen bottom on LiteRT",
            f"{finetune_rate:.1f} images/s",
            f"bare Keras forward: {finetune_bare:.1f} images/s",
            f"{finetune_rate / finetune_bare:.2f}",
            "≥ 0.9",
            yes(finetune_rate / finetune_bare >= 0.9),
        ),
        (
            "5. the same with `model.runtime: keras`",
            f"{local['finetune_keras_images_per_s']:.1f} images/s",
            "bare Keras forward (above)",
            f"{local['finetune_keras_images_per_s'] / finetune_bare:.2f}",
            "",
            "",
        ),
        (
            "5. fine-tuning on a GPU, Keras, mixed_float16",
            f"{finetune_gpu:.1f} images/s" if finetune_gpu else "no GPU in this run",
            "LiteRT on the CPU (above)" if finetune_gpu else "",
            f"{finetune_gpu / finetune_rate:.0f}×" if finetune_gpu else "",
            "",
            "",
        ),
    ]


def markdown(results):
    info = results["machine"]
    lines = [
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), "
        f"TensorFlow {info['tensorflow']}, "
        f"Python {info['python']}, {results['dataset_images']} images of `{results['dataset']}`, "
        f"backbone {BACKBONE} at 224 px, batch 32; bench total {results['bench_s']:.0f} s.",
        "",
        "| measurement | value | compared with | ratio | target | met |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in summary_rows(results)),
        "",
        "Backbone forward pass (a fresh process per configuration; GFLOP/s = 2 × MACs × images/s;",
        "EfficientNet-B0 with random weights, which change nothing in the arithmetic):",
        "",
        "| configuration | backbone | batch | images/s | GMAC/image | GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, rows in {**results["forward"], **results["tuning"]}.items():
        for row in rows:
            lines.append(
                f"| {label} | {row['backbone']} | {row['batch_size']} | {row['images_per_s']:.1f} "
                f"| {row['gmac_per_image']:.3f} | {row['gflop_per_s']:.1f} |"
            )
    local, pipeline = results["in_process"], results["pipeline"]
    lines += [
        "",
        "Head epoch on cached features, Keras `fit` on NumPy arrays one step per call "
        "(the previous design): "
        f"{local['cached_epoch_numpy_s'] * 1000:.0f} ms; on a tf.data pipeline, 64 steps per call: "
        f"{local['cached_epoch_s'] * 1000:.0f} ms. "
        f"Whole pipeline `dvc repro` (fine-tuning 1 epoch): {pipeline['repro_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset",
        default=str(DEFAULT_DATASET),
        help="a folder with one sub-folder of images per class, or an archive of one",
    )
    args = parser.parse_args()
    dataset = Path(args.dataset)
    if not dataset.exists():
        sys.exit(
            f"bench: no dataset at {dataset}; "
            "pass --dataset <folder with one sub-folder per class, or an archive of one>"
        )
    os.environ["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # dvc of this venv
    )

    started = time.perf_counter()
    results = {"dataset": dataset.name, "machine": machine()}
    results["forward"] = measure_forward(
        {
            "defaults": (
                ["--backbones", "efficientnet_b0", BACKBONE, "--batch-sizes", *BATCH_SIZES],
                {},
            ),
            "LiteRT (XNNPACK)": (
                ["--backbones", "efficientnet_b0", BACKBONE, "--batch-sizes", "32", "--litert"],
                {},
            ),
        }
    )
    results["tuning"] = measure_forward(
        {
            label: (["--backbones", BACKBONE, "--batch-sizes", "32", *arguments], env)
            for label, (arguments, env) in TUNING_TRIALS.items()
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        project = bench_project(workdir, dataset)
        results["pipeline"] = measure_pipeline(project)
        results["dataset_images"] = json.loads((project / "metrics" / "dataset.json").read_text())[
            "num_images"
        ]
        results["in_process"] = measure_in_process(project)
        os.chdir(REPO_ROOT)
    results["bench_s"] = round(time.perf_counter() - started, 1)

    table = markdown(results)
    (RESULTS_DIR / "results.json").write_text(
        json.dumps(results, indent=2) + "\n", encoding="utf-8"
    )
    (RESULTS_DIR / "results.md").write_text(table, encoding="utf-8")
    replace_marked_block(REPO_ROOT / "BENCHMARKS.md", "bench", table)
    print(table)


if __name__ == "__main__":
    main()
