"""The seeds' section 3: fine-tuning the top of the backbone with the new head (stage `finetune`).

The recipe of Keras' EfficientNet fine-tuning example: start from the head trained by `train`
on the same frozen backbone, unfreeze the last `finetune.unfreeze_blocks` blocks (and the 1x1
conv above them) while every BatchNormalization layer stays frozen and in inference mode, and
train on images (not cached features) with a low learning rate and optional light augmentation
(in the tf.data pipeline, so the saved model holds no augmentation layers).

An interrupted run resumes from its last completed epoch (lrstudy/resume.py). Its dvclive steps
continue the head's (`train.epochs`, `train.epochs + 1`, ...), so `dvc plots` draws one curve.
"""

import hashlib
import json
from pathlib import Path

import keras
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from lrstudy.backbones import BACKBONES, build_backbone
from lrstudy.head import compile_classifier
from lrstudy.images import image_dataset
from lrstudy.layout import METRICS_DIR, MODELS_DIR, SPLIT_DIR
from lrstudy.params import ParamError, flag, number
from lrstudy.tracking import open_live

CHECKPOINT_DIR = Path("data/checkpoints/finetune")
HEAD_MODEL = MODELS_DIR / "train.keras"
FINETUNE_DIR = METRICS_DIR / "finetune"


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


def new_finetune_model(backbone_name, weights, image_size, settings):
    """`train`'s head on the backbone with its top blocks unfrozen, compiled; the unfrozen names."""
    backbone = build_backbone(backbone_name, weights, image_size)
    unfrozen = unfreeze_top(
        backbone, settings["unfreeze_blocks"], BACKBONES[backbone_name].block_pattern
    )
    model = build_finetune_model(backbone, keras.models.load_model(HEAD_MODEL))
    return compile_classifier(model, settings["lr"]), unfrozen


def fingerprint(params):
    """What a checkpoint must match to be resumed: params and input files."""
    digest = hashlib.sha256(
        json.dumps([params["model"], params["finetune"]], sort_keys=True).encode()
    )
    for path in (HEAD_MODEL, SPLIT_DIR / "train.csv", SPLIT_DIR / "val.csv"):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def finetune_datasets(train_split, val_split, image_size, settings, replicas):
    """(train, validation) tf.data pipelines; training reshuffled each epoch and augmented."""
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
    return train, image_dataset(val_paths, labels=val_labels, **batches)


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
