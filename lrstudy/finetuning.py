"""The seeds' section 3: fine-tuning the top of the backbone with the new head (stage `finetune`).

The recipe of Keras' EfficientNet fine-tuning example: start from the head trained by `train`
on the same frozen backbone, unfreeze the last `finetune.unfreeze_blocks` blocks (and the 1x1
conv above them) while every BatchNormalization layer stays frozen and in inference mode, and
train on images (not cached features) with a low learning rate and optional light augmentation
(in the tf.data pipeline, so the saved model holds no augmentation layers).

On CPUs (`model.runtime`: litert) the model is cut where the unfrozen blocks begin: LiteRT runs
the frozen bottom on every (augmented) batch in the input pipeline, about twice as fast as Keras,
and Keras trains only the unfrozen blocks and the head on its output. Validation images go
through the frozen bottom once and are cached. The saved model is the same either way: pixels ->
`frozen_bottom` -> `trainable_top` -> class probabilities.

An interrupted run resumes from its last completed epoch (lrstudy/resume.py). Its dvclive steps
continue the head's (`train.epochs`, `train.epochs + 1`, ...), so `dvc plots` draws one curve.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from lrstudy.backbones import BACKBONES, build_backbone
from lrstudy.head import compile_classifier
from lrstudy.images import image_dataset
from lrstudy.layout import METRICS_DIR, MODELS_DIR, SPLIT_DIR
from lrstudy.litert import LiteRTModel
from lrstudy.params import ParamError, flag, number
from lrstudy.tracking import open_live

CHECKPOINT_DIR = Path("data/checkpoints/finetune")
HEAD_MODEL = MODELS_DIR / "train.keras"
FINETUNE_DIR = METRICS_DIR / "finetune"
FROZEN, TRAINABLE = "frozen_bottom", "trainable_top"
VALIDATION_CACHE_BYTES = 2**30  # the frozen bottom's output on validation images, kept in memory


def finetune_settings(params, backbone_name):
    """Validated `finetune.*`; unfreeze_blocks is bounded by the chosen backbone's blocks."""
    blocks = BACKBONES[backbone_name].block_count
    return {
        "unfreeze_blocks": number(
            params, "finetune.unfreeze_blocks", minimum=0, maximum=blocks, integer=True
        ),
        "lr": number(params, "finetune.lr", above=0),
        "epochs": number(params, "finetune.epochs", minimum=1, integer=True),
        "batch_size": number(params, "finetune.batch_size", minimum=1, integer=True),
        "augment": flag(params, "finetune.augment"),
        "seed": number(params, "finetune.seed", minimum=0, integer=True),
    }


def check_batch_splits_evenly(batch_size, replicas):
    if batch_size % replicas:
        raise ParamError(
            "finetune.batch_size", batch_size, f"a multiple of the {replicas} replicas"
        )


def block_names(backbone, pattern):
    """The backbone's MBConv blocks, bottom to top (`pattern`: its registry entry's)."""
    names = []
    for layer in backbone.layers:
        match = pattern.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def unfreeze_top(backbone, blocks, pattern):
    """Make the last `blocks` blocks and everything above them trainable, except BatchNorm.

    Returns the names of the unfrozen blocks.
    """
    names = block_names(backbone, pattern)
    unfrozen = names[len(names) - blocks :] if blocks else []
    block_of = [pattern.match(layer.name) for layer in backbone.layers]
    if unfrozen:
        start = next(
            i for i, match in enumerate(block_of) if match and match.group(1) == unfrozen[0]
        )
    else:
        start = max(i for i, match in enumerate(block_of) if match) + 1
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= start and not isinstance(layer, keras.layers.BatchNormalization)
    return unfrozen


def augmentation(seed):
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed),
            keras.layers.RandomZoom(0.1, seed=seed),
        ],
        name="augmentation",
    )


def build_finetune_model(backbone, head):
    inputs = keras.Input(shape=backbone.input_shape[1:], name="pixels")
    features = backbone(inputs, training=False)  # BatchNorm keeps its ImageNet statistics
    return keras.Model(inputs, head(features), name="finetuned")


def split_backbone(backbone):
    """(frozen, top): the backbone cut where its first unfrozen layer begins (`unfreeze_top`)."""
    start = next(index for index, layer in enumerate(backbone.layers) if layer.trainable)
    cut = backbone.layers[start].input  # a block's input: nothing below it is used above it
    return (
        keras.Model(backbone.input, cut, name=FROZEN),
        keras.Model(cut, backbone.output, name="unfrozen_blocks"),
    )


def trainable_part(top, head):
    activations = keras.Input(shape=top.input_shape[1:], name="activations")
    features = top(activations, training=False)  # BatchNorm keeps its ImageNet statistics
    return keras.Model(activations, head(features), name=TRAINABLE)


def assemble(frozen, trainable):
    pixels = keras.Input(shape=frozen.input_shape[1:], name="pixels")
    return keras.Model(pixels, trainable(frozen(pixels, training=False)), name="finetuned")


@dataclass(frozen=True)
class FinetuneModels:
    frozen: keras.Model  # pixels -> activations where the unfrozen blocks begin; never trained
    full: keras.Model  # pixels -> class probabilities: what data/models/finetune.keras holds
    fitted: keras.Model  # what `fit` trains and the checkpoint keeps: `full`, or on litert only
    #                      its trainable top (the frozen bottom then runs in the input pipeline)
    unfrozen: tuple  # the unfrozen blocks' names


def finetune_models(backbone_name, weights, image_size, settings, runtime, checkpointed=None):
    """`train`'s head on the backbone with its top blocks unfrozen, compiled for `runtime`;
    or, given the model a checkpoint kept, the same models around it."""
    if checkpointed is not None and runtime == "keras":
        return FinetuneModels(checkpointed.get_layer(FROZEN), checkpointed, checkpointed, ())
    backbone = build_backbone(backbone_name, weights, image_size)
    unfrozen = unfreeze_top(
        backbone, settings["unfreeze_blocks"], BACKBONES[backbone_name].block_pattern
    )
    frozen, top = split_backbone(backbone)
    if checkpointed is not None:
        full = assemble(frozen, checkpointed)
        return FinetuneModels(frozen, full, checkpointed, tuple(unfrozen))
    trainable = trainable_part(top, keras.models.load_model(HEAD_MODEL))
    full = assemble(frozen, trainable)
    fitted = compile_classifier(full if runtime == "keras" else trainable, settings["lr"])
    return FinetuneModels(frozen, full, fitted, tuple(unfrozen))


def predict_images(model, paths, image_size, batch_size, runtime):
    """Class probabilities of a saved fine-tuned model for images (paths relative to data/raw);
    on litert, its frozen bottom runs there (converted once: the same as fine-tuning's)."""
    images = image_dataset(paths, image_size, batch_size)
    if runtime == "keras":
        return model.predict(images, verbose=1)
    activations = LiteRTModel(model.get_layer(FROZEN)).predict(images, len(paths), "images")
    return model.get_layer(TRAINABLE).predict(activations, batch_size=batch_size, verbose=0)


def fingerprint(params, runtime):
    """What a checkpoint must match to be resumed: params, the runtime (it decides what the
    checkpoint holds) and input files."""
    digest = hashlib.sha256(
        json.dumps([params["model"], params["finetune"], runtime], sort_keys=True).encode()
    )
    for path in (HEAD_MODEL, SPLIT_DIR / "train.csv", SPLIT_DIR / "val.csv"):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def finetune_datasets(train_split, val_split, image_size, settings, replicas, frozen=None):
    """(train, validation) tf.data pipelines; training reshuffled each epoch and augmented.

    With `frozen` (a LiteRTModel of the frozen bottom), both yield its output instead of pixels.
    """
    batches = dict(image_size=image_size, batch_size=settings["batch_size"], replicas=replicas)
    (train_paths, train_labels), (val_paths, val_labels) = train_split, val_split
    train = image_dataset(
        train_paths, labels=train_labels, shuffle_seed=settings["seed"], **batches
    )
    if settings["augment"]:  # in the input pipeline, on the CPU, overlapping the training steps
        augment = augmentation(settings["seed"])
        train = train.map(
            lambda pixels, *target: (augment(pixels, training=True), *target),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    validation = image_dataset(val_paths, labels=val_labels, **batches)
    if frozen is None:
        return train, validation
    train, validation = frozen.map_inputs(train), frozen.map_inputs(validation)
    if len(val_paths) * np.prod(frozen.output_shape) * 4 <= VALIDATION_CACHE_BYTES:
        validation = validation.cache()  # the same activations every epoch
    return train.prefetch(tf.data.AUTOTUNE), validation


def fit_logged(model, train, validation, checkpoint, epochs, first_step):
    """Fit from the checkpoint's last epoch, logging with dvclive from step `first_step` on;
    returns (best val accuracy, its dvclive step)."""
    with open_live(FINETUNE_DIR) as live:
        live.step = first_step
        logger = DVCLiveCallback(live=live)
        # A resumed run first rewrites the epochs it keeps.
        for epoch, logs in enumerate(checkpoint.history):
            logger.on_epoch_end(epoch, logs)
        model.fit(
            train,
            validation_data=validation,
            epochs=epochs,
            initial_epoch=len(checkpoint.history),
            shuffle=False,  # the dataset reshuffles itself, seeded, every epoch
            verbose=1,
            callbacks=[checkpoint, logger],  # checkpoint first: what is logged is also saved
        )
        val_accuracy = [logs["val_accuracy"] for logs in checkpoint.history]
        best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)
        live.summary["best_val_accuracy"] = val_accuracy[best]
        live.summary["best_epoch"] = first_step + best
    return val_accuracy[best], first_step + best
