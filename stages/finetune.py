"""Stage `finetune`: the seeds' section 3, fine-tuning the top of the backbone with the new head.

The recipe of Keras' EfficientNet fine-tuning example: start from the head trained by `train`
on the same frozen backbone, unfreeze the last `finetune.unfreeze_blocks` blocks (and the 1x1
conv above them) while every BatchNormalization layer stays frozen and in inference mode, and
train on images (not cached features) with a low learning rate and optional light augmentation
(in the tf.data pipeline, so the saved model holds no augmentation layers).

An interrupted run resumes from its last completed epoch (stages/resume.py). Its dvclive steps
continue the head's (`train.epochs`, `train.epochs + 1`, ...), so `dvc plots` draws one curve.
"""

import hashlib
import json
import re
from pathlib import Path

import keras
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from stages.backbones import backbone_settings, build_backbone
from stages.devices import configure_devices
from stages.errors import reports_user_errors
from stages.images import image_dataset
from stages.layout import METRICS_DIR, MODELS_DIR, SPLIT_DIR, atomic_output, read_classes, read_manifest, write_json
from stages.lite0 import block_count
from stages.params import ParamError, flag, load_params, number
from stages.resume import EpochCheckpoint, load_checkpoint, remove_checkpoint

CHECKPOINT_DIR = Path("data/checkpoints/finetune")
HEAD_MODEL = MODELS_DIR / "train.keras"
BLOCK_NAME = re.compile(r"^(block\d+[a-z]|blocks_\d+)_")  # B0: block6d_..., Lite0: blocks_14_...


def finetune_settings(params):
    return {
        "unfreeze_blocks": number(params, "finetune.unfreeze_blocks", minimum=0, maximum=block_count(), integer=True),
        "lr": number(params, "finetune.lr", above=0),
        "epochs": number(params, "finetune.epochs", minimum=1, integer=True),
        "batch_size": number(params, "finetune.batch_size", minimum=1, integer=True),
        "augment": flag(params, "finetune.augment"),
        "seed": number(params, "finetune.seed", minimum=0, integer=True),
    }


def block_names(backbone):
    """The backbone's MBConv blocks, bottom to top."""
    names = []
    for layer in backbone.layers:
        match = BLOCK_NAME.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def unfreeze_top(backbone, blocks):
    """Make the last `blocks` blocks and everything above them trainable, except BatchNorm.

    Returns the names of the unfrozen blocks.
    """
    names = block_names(backbone)
    unfrozen = names[len(names) - blocks:] if blocks else []
    block_of = [BLOCK_NAME.match(layer.name) for layer in backbone.layers]
    if unfrozen:
        start = next(i for i, match in enumerate(block_of) if match and match.group(1) == unfrozen[0])
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


def fingerprint(params):
    """What a checkpoint must match to be resumed: params and input files."""
    digest = hashlib.sha256(json.dumps([params["model"], params["finetune"]], sort_keys=True).encode())
    for path in (HEAD_MODEL, SPLIT_DIR / "train.csv", SPLIT_DIR / "val.csv"):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


@reports_user_errors
def main():
    params = load_params()
    settings = finetune_settings(params)
    backbone_name, weights, image_size = backbone_settings(params)
    head_epochs = number(params, "train.epochs", minimum=1, integer=True)
    classes = read_classes()
    splits = {}
    for split in ("train", "val"):
        paths, labels = read_manifest(split)
        splits[split] = (paths, [classes.index(label) for label in labels])

    keras.utils.set_random_seed(settings["seed"])
    strategy = configure_devices(params)
    replicas = strategy.num_replicas_in_sync
    if settings["batch_size"] % replicas:
        raise ParamError("finetune.batch_size", settings["batch_size"], f"a multiple of the {replicas} replicas")
    run_fingerprint = fingerprint(params)
    with strategy.scope():
        resumed = load_checkpoint(CHECKPOINT_DIR, run_fingerprint)
        if resumed:
            model, history, seconds = resumed
            print(f"finetune: resuming after epoch {len(history) - 1} of {settings['epochs']}")
        else:
            backbone = build_backbone(backbone_name, weights, image_size)
            unfrozen = unfreeze_top(backbone, settings["unfreeze_blocks"])
            print(f"finetune: unfrozen blocks {', '.join(unfrozen) or '(none)'} and the top conv; BatchNorm frozen")
            head = keras.models.load_model(HEAD_MODEL)
            model = build_finetune_model(backbone, head)
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate=settings["lr"]),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            history, seconds = [], 0.0
    trainable = sum(int(keras.ops.size(weight)) for weight in model.trainable_weights)
    print(f"finetune: {trainable:,} trainable weights, lr {settings['lr']:g}, {settings['epochs']} epochs")

    (train_paths, train_labels), (val_paths, val_labels) = splits["train"], splits["val"]
    batches = dict(image_size=image_size, batch_size=settings["batch_size"], replicas=replicas)
    train = image_dataset(train_paths, labels=train_labels, shuffle_seed=settings["seed"], **batches)
    if settings["augment"]:  # in the input pipeline, on the CPU, overlapping the training steps
        augment = augmentation(settings["seed"])
        train = train.map(lambda pixels, *target: (augment(pixels, training=True), *target), num_parallel_calls=tf.data.AUTOTUNE)
    validation = image_dataset(val_paths, labels=val_labels, **batches)
    checkpoint = EpochCheckpoint(CHECKPOINT_DIR, run_fingerprint, history, seconds)
    with Live(str(METRICS_DIR / "finetune"), save_dvc_exp=False, dvcyaml=False) as live:
        live.step = head_epochs
        logger = DVCLiveCallback(live=live)
        for epoch, logs in enumerate(history):  # a resumed run first rewrites the epochs it keeps
            logger.on_epoch_end(epoch, logs)
        model.fit(
            train,
            validation_data=validation,
            epochs=settings["epochs"],
            initial_epoch=len(history),
            shuffle=False,  # the dataset reshuffles itself, seeded, every epoch
            verbose=1,
            callbacks=[checkpoint, logger],  # checkpoint first: what is logged is also saved
        )
        val_accuracy = [logs["val_accuracy"] for logs in checkpoint.history]
        best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__)
        live.summary["best_val_accuracy"] = val_accuracy[best]
        live.summary["best_epoch"] = head_epochs + best

    images = len(train_paths) + len(val_paths)
    images_per_second = images * settings["epochs"] / checkpoint.seconds
    write_json(
        METRICS_DIR / "finetune" / "time.json",
        {"wall_time_s": round(checkpoint.seconds, 2), "images_per_s": round(images_per_second, 1)},
    )
    with atomic_output(MODELS_DIR / "finetune.keras") as partial:
        model.save(partial)
    remove_checkpoint(CHECKPOINT_DIR)
    print(
        f"finetune: best val accuracy {val_accuracy[best]:.4f} at epoch {head_epochs + best}, "
        f"{checkpoint.seconds:.1f} s, {images_per_second:.1f} images/s (train + val)"
    )


if __name__ == "__main__":
    main()
