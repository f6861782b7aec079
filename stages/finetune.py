"""Stage `finetune`: the reference reports' section 3, the top backbone blocks trained with
`train`'s head.

The recipe (lrstudy/training/finetune.py): BatchNorm frozen and in inference mode, the last
`finetune.unfreeze_blocks` blocks unfrozen, a low learning rate, light augmentation. The frozen
bottom runs on the runtime of `model.runtime`. Resumes after an interruption from its last
completed epoch.
"""

import keras

from lrstudy.atomic import atomic_output, remove_output, write_json
from lrstudy.data.manifests import read_classes, read_split
from lrstudy.models.backbones import backbone_settings
from lrstudy.models.devices import configure_devices
from lrstudy.models.runtime import choose_runtime
from lrstudy.models.saving import save_model
from lrstudy.params import load_params, number, stage_main
from lrstudy.paths import CHECKPOINT_DIR, model_file, time_file
from lrstudy.training.determinism import seed_everything
from lrstudy.training.finetune import (
    check_batch_splits_evenly,
    finetune_datasets,
    finetune_models,
    finetune_settings,
    fingerprint,
    fit_logged,
)
from lrstudy.training.resume import EpochCheckpoint, load_checkpoint


def print_plan(models, settings, runtime, history):
    if history:
        print(f"finetune: resuming after epoch {len(history) - 1} of {settings['epochs']}")
    else:
        print(
            f"finetune: unfrozen blocks {', '.join(models.unfrozen) or '(none)'} and the top "
            f"conv; BatchNorm frozen; the frozen bottom runs on {runtime.name}"
        )
    trainable = sum(int(keras.ops.size(weight)) for weight in models.fitted.trainable_weights)
    print(
        f"finetune: {trainable:,} trainable weights, lr {settings['lr']:g}, "
        f"{settings['epochs']} epochs"
    )


@stage_main
def main():
    params = load_params()
    backbone_name, weights, image_size = backbone_settings(params)
    settings = finetune_settings(params, backbone_name)
    head_epochs = number(params, "train.epochs", minimum=1, integer=True)
    classes = read_classes()
    train_split, val_split = read_split("train", classes), read_split("val", classes)

    seed_everything(settings["seed"])
    strategy = configure_devices(params)
    replicas = strategy.num_replicas_in_sync
    check_batch_splits_evenly(settings["batch_size"], replicas)
    runtime = choose_runtime(params, replicas)
    run_fingerprint = fingerprint(params, runtime)
    with strategy.scope():
        resumed = load_checkpoint(CHECKPOINT_DIR, run_fingerprint)
        checkpointed, history, seconds = resumed or (None, [], 0.0)
        models = finetune_models(
            backbone_name, weights, image_size, settings, runtime, checkpointed
        )
    print_plan(models, settings, runtime, history)

    train, validation = finetune_datasets(
        train_split, val_split, image_size, settings, replicas, models.forward
    )
    checkpoint = EpochCheckpoint(CHECKPOINT_DIR, run_fingerprint, history, seconds)
    best_accuracy, best_step = fit_logged(
        models.fitted, train, validation, checkpoint, settings["epochs"], head_epochs
    )

    images_per_second = (
        (len(train_split[0]) + len(val_split[0])) * settings["epochs"] / checkpoint.seconds
    )
    write_json(
        time_file("finetune"),
        {"wall_time_s": round(checkpoint.seconds, 2), "images_per_s": round(images_per_second, 1)},
    )
    with atomic_output(model_file("finetune")) as partial:
        save_model(models.full, partial)
    remove_output(CHECKPOINT_DIR)
    print(
        f"finetune: best val accuracy {best_accuracy:.4f} at epoch {best_step}, "
        f"{checkpoint.seconds:.1f} s, {images_per_second:.1f} images/s (train + val)"
    )


if __name__ == "__main__":
    main()
