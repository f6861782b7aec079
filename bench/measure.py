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
from lrstudy.backbone.build import build_backbone
from lrstudy.backbone.litert import WITHOUT_AUTOTUNE
from lrstudy.backbone.runtime import RUNTIMES, compute_features, image_dataset
from lrstudy.core.datasets import read_classes, read_split, split_features
from lrstudy.finetuning import finetune_datasets, finetune_models
from lrstudy.heads.training import (
    build_head,
    compile_classifier,
    fit_fold_heads,
    fit_heads,
    make_optimizer,
    seed_everything,
)
from tests.helpers.models import build_finetune_model
from tests.helpers.sandbox import committed_config

BATCH = 32
# The committed params, with the backbone whose ImageNet weights are here, at 224 px.
CONFIG = committed_config(
    {
        "backbone.name": "efficientnet_lite0",
        "backbone.image_size": 224,
        "head.epochs": 50,
        "head.batch_size": BATCH,
        "head.dropout": 0.0,
        "head.seed": 42,
        "head.repeats": 10,
        "finetune.unfreeze_blocks": 2,
        "finetune.schedule.name": "fixed",
        "finetune.schedule.initial_lr": 1e-5,
        "finetune.batch_size": BATCH,
        "finetune.augment": True,
        "finetune.seed": 42,
    }
)
BACKBONE, HEAD, FINETUNE = CONFIG.backbone, CONFIG.head, CONFIG.finetune
STEPS_PER_EXECUTION = 64  # the per-seed loop at its best: many steps per graph call
# Item 7: the reference reports' data (Oregon Wildlife), about; Lite0's and B0's feature width.
REFERENCE_SIZE = {"images": 14_000, "classes": 20, "features": 1280}


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
    (lrstudy/backbone/litert.py): the baseline at its best."""
    pixels = np.random.default_rng(0).uniform(0, 255, (count, 224, 224, 3)).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices(pixels).batch(BATCH).with_options(WITHOUT_AUTOTUNE)
    return lambda: backbone.predict(batches, verbose=0)


def measure_features(files):
    """Item 2: the `features` stage's own function on real files, on each runtime, against the
    bare Keras forward pass on in-memory tensors."""
    print("bench: the features stage against the bare Keras forward pass ...", flush=True)
    backbone = build_backbone(BACKBONE)
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
    model = compile_classifier(build_finetune_model(backbone, head), make_optimizer(CONFIG.train))
    train = image_dataset(train_split[0], 224, BATCH, labels=train_split[1], shuffle_seed=42)
    validation = image_dataset(val_split[0], 224, BATCH, labels=val_split[1])
    model.fit(train.take(1), validation_data=validation.take(1), verbose=0)  # traces both steps
    timer = EpochTimer()
    model.fit(train, validation_data=validation, epochs=1, verbose=0, callbacks=[timer])
    return round(timer.seconds[0], 2)


def feature_batches(features, labels, shuffle_seed=None):
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(BATCH).prefetch(tf.data.AUTOTUNE)


def per_seed_loop(rate, train, validation, num_classes):
    """The previous design, to compare with: a fresh Keras head, trace and `fit` per seed."""
    for seed in HEAD.seeds:
        keras.backend.clear_session()
        seed_everything(seed)
        model = build_head(train[0].shape[1], num_classes, 0.0)
        compile_classifier(
            model, make_optimizer(CONFIG.train, rate(0)), steps_per_execution=STEPS_PER_EXECUTION
        )
        model.fit(
            feature_batches(*train, shuffle_seed=seed),
            epochs=HEAD.epochs,
            validation_data=feature_batches(*validation),
            verbose=0,
            callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: rate(epoch))],
        )


def head_flop(train, validation, num_classes):
    """The head's arithmetic for all seeds: per example and seed, the forward product and the
    kernel's gradient (2 x 2 x dim x classes FLOP) on training features, the forward alone on
    validation features."""
    dim, epochs = train[0].shape[1], HEAD.epochs
    per_epoch = 4 * dim * num_classes * len(train[1]) + 2 * dim * num_classes * len(validation[1])
    return HEAD.repeats * epochs * per_epoch


def measure_head_training(num_classes):
    """Item 1, on cached features: ten seeds trained the stages' way (one graph) and the
    per-seed loop, each twice in alternation, the faster of each."""
    print("bench: ten seeds of the head, in one graph and one by one ...", flush=True)
    train, validation = split_features("training"), split_features("validation")

    def rate(epoch):
        return CONFIG.baseline.lr

    runs = {
        "stacked_s": lambda: fit_heads(
            rate, HEAD, CONFIG.train, HEAD.seeds, train, validation, num_classes, desc="stacked"
        ),
        "per_seed_loop_s": lambda: per_seed_loop(rate, train, validation, num_classes),
    }
    seconds = {name: [] for name in runs}
    for _ in range(2):
        for name, run_once in runs.items():
            started = time.perf_counter()
            run_once()
            seconds[name].append(time.perf_counter() - started)
    results = {name: round(min(values), 2) for name, values in seconds.items()}
    return {
        **results,
        "head_seeds": HEAD.repeats,
        "head_epochs": HEAD.epochs,
        "head_gflop": round(head_flop(train, validation, num_classes) / 1e9, 1),
    }


def synthetic_folds(images, rng):
    """The study's folds of `images` rows, as lrstudy/core/datasets.py's fold_features gives
    them: each fold tests 1/folds of them, takes `split.validation` of all for validation from
    the rest and trains on what is left (every fold's training set the same size)."""
    count = CONFIG.split.folds
    tests = np.array_split(rng.permutation(images), count)
    validation = round(images * CONFIG.split.validation)
    folds = []
    for index, test in enumerate(tests):
        rest = np.concatenate([other for at, other in enumerate(tests) if at != index])
        folds.append({"test": test, "validation": rest[:validation], "training": rest[validation:]})
    size = min(len(fold["training"]) for fold in folds)
    return [{**fold, "training": fold["training"][:size]} for fold in folds]


def measure_scale(images, classes, features):
    """Item 7: one variant's training as `train` does it (ten seeds on a split of the
    committed fractions, then every fold x seed) at the reference reports' size, on random
    features: the arithmetic depends on the shapes alone."""
    print(f"bench: one variant's training on {images} images of {classes} classes ...", flush=True)
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((images, features)).astype(np.float32)
    labels = rng.integers(0, classes, images).astype(np.int32)
    order = rng.permutation(images)
    held = round(images * CONFIG.split.validation)
    validation, training = order[:held], order[2 * held :]  # the test split in between

    def rate(epoch):
        return CONFIG.baseline.lr

    started = time.perf_counter()
    fit_heads(
        rate,
        HEAD,
        CONFIG.train,
        HEAD.seeds,
        (rows[training], labels[training]),
        (rows[validation], labels[validation]),
        classes,
        desc="scale",
    )
    split_s = time.perf_counter() - started
    folds = synthetic_folds(images, rng)
    fit_fold_heads(rate, HEAD, CONFIG.train, HEAD.seeds, (rows, labels, folds), classes, "folds")
    return {
        "scale_images": images,
        "scale_classes": classes,
        "scale_training_s": round(split_s, 1),
        "scale_folds_s": round(time.perf_counter() - started - split_s, 1),
        "scale_training_images": len(training),
    }


def measure_finetuning(train_split):
    """Item 5: training images/s of the `finetune` stage's recipe (top 2 blocks, augmented) on
    each runtime, against the bare Keras forward pass, alternated."""
    print("bench: fine-tuning against the bare Keras forward pass ...", flush=True)
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    runs = {}
    for name, runtime in RUNTIMES.items():
        models = finetune_models(BACKBONE, FINETUNE, runtime)
        train, _ = finetune_datasets(subset, subset, 224, FINETUNE, 1, models.forward)
        runs[f"finetune_{name}_images_per_s"] = functools.partial(
            models.fitted.fit, train, epochs=1, verbose=0
        )
    backbone = build_backbone(BACKBONE)
    runs["finetune_bare_forward_images_per_s"] = bare_forward(backbone, 8 * BATCH)
    return alternated(runs, 8 * BATCH)


def measure_finetuning_gpu(train_split):
    """Item 5 on a GPU: the Keras recipe with mixed precision."""
    print("bench: fine-tuning on the GPU ...", flush=True)
    keras.mixed_precision.set_global_policy("mixed_float16")
    subset = (train_split[0][: 8 * BATCH], train_split[1][: 8 * BATCH])
    with tf.device("/GPU:0"):
        models = finetune_models(BACKBONE, FINETUNE, RUNTIMES["keras"])
        train, _ = finetune_datasets(subset, subset, 224, FINETUNE, 1, models.forward)
        rate = alternated({"gpu": lambda: models.fitted.fit(train, epochs=1, verbose=0)}, 8 * BATCH)
    keras.mixed_precision.set_global_policy("float32")
    return rate["gpu"]


def measure_in_process(project):
    """Items 1, 2 (bare forward) and 5, in this process, on the project's data and models."""
    os.chdir(project)  # the stages' paths (data/raw, data/features, ...) are relative
    classes = read_classes()
    train_split, val_split = read_split("training"), read_split("validation")
    results = {"matmul_gflop_per_s": matmul_gflop_per_s()}
    backbone, rates = measure_features(train_split[0][: 8 * BATCH])
    results.update(rates)
    results["reference_epoch_s"] = measure_reference_epoch(
        backbone, train_split, val_split, len(classes)
    )
    results.update(measure_head_training(len(classes)))
    results.update(measure_scale(**REFERENCE_SIZE))
    results.update(measure_finetuning(train_split))
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        results["finetune_gpu_images_per_s"] = measure_finetuning_gpu(train_split)
    results["gpu"] = [device.name for device in gpus]
    return results
