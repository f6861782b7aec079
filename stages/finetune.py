"""Stage `finetune`: the seeds' section 3, the top backbone blocks trained with `train`'s head.

The recipe (lrstudy/finetuning.py): BatchNorm frozen and in inference mode, the last
`finetune.unfreeze_blocks` blocks unfrozen, a low learning rate, light augmentation. On CPUs
the frozen bottom runs on LiteRT in the input pipeline. Resumes after an interruption from its
last completed epoch.
"""

import keras

from lrstudy.backbones import backbone_settings
from lrstudy.devices import configure_devices
from lrstudy.errors import reports_user_errors
from lrstudy.finetuning import (
    CHECKPOINT_DIR,
    FINETUNE_DIR,
    check_batch_splits_evenly,
    finetune_datasets,
    finetune_models,
    finetune_settings,
    fingerprint,
    fit_logged,
)
from lrstudy.head import seed_everything
from lrstudy.layout import MODELS_DIR, atomic_output, read_classes, read_split, write_json
from lrstudy.litert import LiteRTModel, choose_runtime
from lrstudy.params import load_params, number
from lrstudy.resume import EpochCheckpoint, load_checkpoint, remove_checkpoint


@reports_user_errors
def main():
    params = load_params()
    backbone_name, weights, image_size = backbone_settings(params)
    settings = finetune_settings(params, backbone_name)
    head_epochs = number(params, "train.epochs", minimum=1, integer=True)
    classes = read_classes()
    train_split, val_split = read_split("train", classes), read_split("val", classes)

    seed_everything(settings["seed"])
    strategy = configure_devices(params)
    check_batch_splits_evenly(settings["batch_size"], strategy.num_replicas_in_sync)
    runtime = choose_runtime(params, strategy.num_replicas_in_sync)
    run_fingerprint = fingerprint(params, runtime)
    with strategy.scope():
        resumed = load_checkpoint(CHECKPOINT_DIR, run_fingerprint)
        if resumed:
            checkpointed, history, seconds = resumed
            print(f"finetune: resuming after epoch {len(history) - 1} of {settings['epochs']}")
        else:
            checkpointed, history, seconds = None, [], 0.0
        models = finetune_models(
            backbone_name, weights, image_size, settings, runtime, checkpointed
        )
    if not resumed:
        print(
            f"finetune: unfrozen blocks {', '.join(models.unfrozen) or '(none)'} and the top "
            f"conv; BatchNorm frozen; the frozen bottom runs on {runtime}"
        )
    trainable = sum(int(keras.ops.size(weight)) for weight in models.fitted.trainable_weights)
    print(
        f"finetune: {trainable:,} trainable weights, lr {settings['lr']:g}, "
        f"{settings['epochs']} epochs"
    )

    frozen = LiteRTModel(models.frozen) if runtime == "litert" else None
    train, validation = finetune_datasets(
        train_split, val_split, image_size, settings, strategy.num_replicas_in_sync, frozen
    )
    checkpoint = EpochCheckpoint(CHECKPOINT_DIR, run_fingerprint, history, seconds)
    best_accuracy, best_step = fit_logged(
        models.fitted, train, validation, checkpoint, settings["epochs"], head_epochs
    )

    images_per_second = (
        (len(train_split[0]) + len(val_split[0])) * settings["epochs"] / checkpoint.seconds
    )
    write_json(
        FINETUNE_DIR / "time.json",
        {"wall_time_s": round(checkpoint.seconds, 2), "images_per_s": round(images_per_second, 1)},
    )
    with atomic_output(MODELS_DIR / "finetune.keras") as partial:
        models.full.save(partial)
    remove_checkpoint(CHECKPOINT_DIR)
    print(
        f"finetune: best val accuracy {best_accuracy:.4f} at epoch {best_step}, "
        f"{checkpoint.seconds:.1f} s, {images_per_second:.1f} images/s (train + val)"
    )


if __name__ == "__main__":
    main()
