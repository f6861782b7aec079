"""The reference reports' section 3: the top of the backbone fine-tuned with the new head
(stage `finetune`).

The recipe of Keras' EfficientNet fine-tuning example: start from the head trained by `train`
on the same frozen backbone, unfreeze the last `finetune.unfreeze_blocks` blocks (and the 1x1
conv above them) while every BatchNormalization layer stays frozen and in inference mode
(lrstudy/models/unfreezing.py), and train on images (not cached features) with a low learning
rate and optional light augmentation (in the tf.data pipeline, so the saved model holds no
augmentation layers). The frozen bottom runs on the chosen runtime (lrstudy/models/runtime.py);
the saved model is the same either way: pixels -> `frozen_bottom` -> `trainable_top` ->
class probabilities.

An interrupted run resumes from its last completed epoch (lrstudy/training/resume.py). Its
dvclive steps continue the head's (`train.epochs`, `train.epochs + 1`, ...), so `dvc plots`
draws one curve.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from lrstudy.data.images import image_dataset
from lrstudy.models.backbones import BACKBONES, build_backbone
from lrstudy.models.unfreezing import assemble, split_backbone, trainable_part, unfreeze_top
from lrstudy.params import MAX_SEED, ParamError, flag, number
from lrstudy.paths import manifest_path, metrics_dir, model_file
from lrstudy.tracking import keep_in_summary, open_live
from lrstudy.training.head import compile_classifier

HEAD_MODEL = model_file("train")


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
        "seed": number(params, "finetune.seed", minimum=0, maximum=MAX_SEED, integer=True),
    }


def check_batch_splits_evenly(batch_size, replicas):
    if batch_size % replicas:
        raise ParamError(
            "finetune.batch_size", batch_size, f"a multiple of the {replicas} replicas"
        )


def augmentation(seed):
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.05, seed=seed),
            keras.layers.RandomZoom(0.1, seed=seed),
        ],
        name="augmentation",
    )


@dataclass(frozen=True)
class FinetuneModels:
    forward: object  # the frozen bottom on its runtime
    full: keras.Model  # pixels -> class probabilities: what data/models/finetune.keras holds
    fitted: keras.Model  # what `fit` trains and the checkpoint keeps (the runtime's choice)
    unfrozen: tuple  # the unfrozen blocks' names


def finetune_models(backbone_name, weights, image_size, settings, runtime, checkpointed=None):
    """`train`'s head on the backbone with its top blocks unfrozen, the frozen bottom on
    `runtime` and the rest compiled; or, given the model a checkpoint kept, the same around it."""
    backbone = build_backbone(backbone_name, weights, image_size)
    unfrozen = unfreeze_top(
        backbone, settings["unfreeze_blocks"], BACKBONES[backbone_name].block_pattern
    )
    frozen, top = split_backbone(backbone)
    forward = runtime(frozen)
    if checkpointed is not None:
        full = assemble(frozen, forward.trainable_of(checkpointed))
        return FinetuneModels(forward, full, checkpointed, tuple(unfrozen))
    full = assemble(frozen, trainable_part(top, keras.models.load_model(HEAD_MODEL)))
    fitted = compile_classifier(forward.fitted_part(full), settings["lr"])
    return FinetuneModels(forward, full, fitted, tuple(unfrozen))


def fingerprint(params, runtime):
    """What a checkpoint must match to be resumed: params, the runtime (it decides what the
    checkpoint holds) and input files."""
    digest = hashlib.sha256(
        json.dumps([params["model"], params["finetune"], runtime.name], sort_keys=True).encode()
    )
    for path in (HEAD_MODEL, manifest_path("train"), manifest_path("val")):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def finetune_datasets(train_split, val_split, image_size, settings, replicas, forward):
    """(train, validation) pipelines of what the fitted model takes (`forward`: the frozen
    bottom on its runtime); training reshuffled each epoch and augmented."""
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
    return (
        forward.training_inputs(train, len(train_paths)),
        forward.training_inputs(validation, len(val_paths), cache=True),
    )


def fit_logged(model, train, validation, checkpoint, epochs, first_step):
    """Fit from the checkpoint's last epoch, logging with dvclive from step `first_step` on;
    returns (best val accuracy, its dvclive step)."""
    with open_live(metrics_dir("finetune")) as live:
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
        figures = {
            "final_val_accuracy": val_accuracy[-1],
            "final_val_loss": checkpoint.history[-1]["val_loss"],
            "best_val_accuracy": val_accuracy[best],
            "best_epoch": first_step + best,
        }
        keep_in_summary(live, figures)
    return val_accuracy[best], first_step + best
