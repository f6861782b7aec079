"""The bench's measurements in this process, on the bench project's data: each against the bare
Keras forward pass or the CPU's matrix product, measured side by side in the same rounds."""

import functools
import os
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from bench.forward import multiply_accumulates
from lrstudy.data.features import load_features
from lrstudy.data.images import compute_features, image_dataset
from lrstudy.data.manifests import read_classes, read_split
from lrstudy.models.backbones import build_backbone
from lrstudy.models.litert import WITHOUT_AUTOTUNE
from lrstudy.models.runtime import RUNTIMES
from lrstudy.training.finetune import finetune_datasets, finetune_models
from lrstudy.training.head import (
    STEPS_PER_EXECUTION,
    build_head,
    compile_classifier,
    feature_batches,
)
from tests.helpers.models import build_finetune_model

BACKBONE = "efficientnet_lite0"  # the backbone whose ImageNet weights are here
BATCH = 32
FINETUNE_SETTINGS = {"unfreeze_blocks": 2, "lr": 1e-5, "batch_size": BATCH, "augment": True}


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
    tf.data's autotuner, which stalled some of its passes as it did LiteRT's
    (lrstudy/models/litert.py): the baseline at its best."""
    pixels = np.random.default_rng(0).uniform(0, 255, (count, 224, 224, 3)).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices(pixels).batch(BATCH).with_options(WITHOUT_AUTOTUNE)
    return lambda: backbone.predict(batches, verbose=0)


def measure_features(files):
    """Item 2: the `features` stage's own function on real files, on each runtime, against the
    bare Keras forward pass on in-memory tensors."""
    print("bench: the features stage against the bare Keras forward pass ...", flush=True)
    backbone = build_backbone(BACKBONE, "imagenet", 224)
    runs = {
        f"features_{name}_images_per_s": functools.partial(
            compute_features, runtime(backbone), files, 224, BATCH
        )
        for name, runtime in RUNTIMES.items()
    }
    rates = alternated(
        {**runs, "bare_forward_images_per_s": bare_forward(backbone, len(files))}, len(files)
    )
    return backbone, {**rates, "gmac_per_image": round(multiply_accumulates(backbone) / 1e9, 3)}


def measure_reference_epoch(backbone, train_split, val_split, num_classes):
    """Item 1, the reference reports' way: one head epoch with the frozen backbone in the loop."""
    print("bench: one head epoch the reference reports' way (images -> backbone -> head) ...")
    backbone.trainable = False
    head = build_head(backbone.output_shape[-1], num_classes, 0.0)
    model = compile_classifier(build_finetune_model(backbone, head), 1e-3)
    train = image_dataset(train_split[0], 224, BATCH, labels=train_split[1], shuffle_seed=42)
    validation = image_dataset(val_split[0], 224, BATCH, labels=val_split[1])
    model.fit(train.take(1), validation_data=validation.take(1), verbose=0)  # traces both steps
    timer = EpochTimer()
    model.fit(train, validation_data=validation, epochs=1, verbose=0, callbacks=[timer])
    return round(timer.seconds[0], 2)


def measure_cached_epoch(num_classes):
    """Item 1, on cached features: the median head epoch as the stages train it."""
    print("bench: head epochs on cached features ...", flush=True)
    (x_train, y_train), (x_val, y_val) = load_features("train"), load_features("val")
    keras.utils.set_random_seed(42)
    head = compile_classifier(
        build_head(x_train.shape[1], num_classes, 0.0),
        1e-3,
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    timer = EpochTimer()
    data = feature_batches(x_train, y_train, BATCH, shuffle_seed=42)
    validation = feature_batches(x_val, y_val, BATCH)
    head.fit(data, validation_data=validation, epochs=21, verbose=0, callbacks=[timer])
    return round(statistics.median(timer.seconds[1:]), 4)  # epoch 0 traces the graphs


def measure_finetuning(train_split):
    """Item 5: training images/s of the `finetune` stage's recipe (top 2 blocks, augmented) on
    each runtime, against the bare Keras forward pass, alternated."""
    print("bench: fine-tuning against the bare Keras forward pass ...", flush=True)
    settings = {**FINETUNE_SETTINGS, "seed": 42}
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    runs = {}
    for name, runtime in RUNTIMES.items():
        models = finetune_models(BACKBONE, "imagenet", 224, settings, runtime)
        train, _ = finetune_datasets(subset, subset, 224, settings, 1, models.forward)
        runs[f"finetune_{name}_images_per_s"] = functools.partial(
            models.fitted.fit, train, epochs=1, verbose=0
        )
    backbone = build_backbone(BACKBONE, "imagenet", 224)
    runs["finetune_bare_forward_images_per_s"] = bare_forward(backbone, 8 * BATCH)
    return alternated(runs, 8 * BATCH)


def measure_finetuning_gpu(train_split):
    """Item 5 on a GPU: the Keras recipe with mixed precision."""
    print("bench: fine-tuning on the GPU ...", flush=True)
    keras.mixed_precision.set_global_policy("mixed_float16")
    settings = {**FINETUNE_SETTINGS, "seed": 42}
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    with tf.device("/GPU:0"):
        models = finetune_models(BACKBONE, "imagenet", 224, settings, RUNTIMES["keras"])
        train, _ = finetune_datasets(subset, subset, 224, settings, 1, models.forward)
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
    results["reference_epoch_s"] = measure_reference_epoch(
        backbone, train_split, val_split, len(classes)
    )
    results["cached_epoch_s"] = measure_cached_epoch(len(classes))
    results.update(measure_finetuning(train_split))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        results["finetune_gpu_images_per_s"] = measure_finetuning_gpu(train_split)
    results["gpu"] = [device.name for device in gpus]
    return results
