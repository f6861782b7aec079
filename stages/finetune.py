"""Stage `finetune`: the reference reports' section 3, the top backbone blocks trained with
`train`'s head.

The recipe (lrstudy/finetuning.py): BatchNorm frozen and in inference mode, the last
`finetune.unfreeze_blocks` blocks unfrozen, Adam at a low learning rate following
`finetune.schedule.*`, light augmentation. The frozen
bottom runs on the runtime of `backbone.runtime`. Resumes after an interruption from its last
completed epoch.
"""

from lrstudy.core.datasets import read_split
from lrstudy.core.outputs import remove_output, write_json, write_model
from lrstudy.core.paths import CHECKPOINT_DIR, model_file, time_file
from lrstudy.core.stage import stage_main


def print_plan(models, settings, runtime, history):
    import keras

    if history:
        print(f"finetune: resuming after epoch {len(history)} of {settings.epochs}")
    else:
        print(
            f"finetune: unfrozen blocks {', '.join(models.unfrozen) or '(none)'} and the top "
            f"conv; BatchNorm frozen; the frozen bottom runs on {runtime.name}"
        )
    trainable = sum(int(keras.ops.size(weight)) for weight in models.fitted.trainable_weights)
    print(
        f"finetune: {trainable:,} trainable weights, Adam, {settings.epochs} epochs, schedule "
        f"{settings.schedule.describe()}"
    )


@stage_main
def main(config):
    backbone, settings = config.backbone, config.finetune
    backbone.check_weights_file()
    from lrstudy.backbone.runtime import choose_runtime, configure_devices
    from lrstudy.finetuning import (
        EpochCheckpoint,
        check_batch_splits_evenly,
        finetune_datasets,
        finetune_models,
        fingerprint,
        fit_logged,
        load_checkpoint,
    )
    from lrstudy.heads.training import seed_everything

    training, validation = read_split("training"), read_split("validation")
    seed_everything(settings.seed)
    strategy = configure_devices(backbone)
    replicas = strategy.num_replicas_in_sync
    check_batch_splits_evenly(settings.batch_size, replicas)
    runtime = choose_runtime(backbone.runtime, replicas)
    run_fingerprint = fingerprint(backbone, settings, runtime)
    with strategy.scope():
        resumed = load_checkpoint(CHECKPOINT_DIR, run_fingerprint)
        checkpointed, history, seconds = resumed or (None, [], 0.0)
        models = finetune_models(backbone, settings, runtime, checkpointed)
    print_plan(models, settings, runtime, history)

    datasets = finetune_datasets(
        training, validation, backbone.image_size, settings, replicas, models.forward
    )
    checkpoint = EpochCheckpoint(CHECKPOINT_DIR, run_fingerprint, history, seconds)
    best_accuracy, best_epoch = fit_logged(
        models.fitted, *datasets, checkpoint, settings, first_step=config.head.epochs
    )

    speed = (len(training[0]) + len(validation[0])) * settings.epochs / checkpoint.seconds
    timing = {"wall_time_s": round(checkpoint.seconds, 2), "images_per_s": round(speed, 1)}
    write_json(time_file("finetune"), timing)
    write_model(models.full, model_file("finetuned"))
    remove_output(CHECKPOINT_DIR)
    print(
        f"finetune: best val accuracy {best_accuracy:.4f} after epoch {best_epoch} of "
        f"{settings.epochs}; {checkpoint.seconds:.1f} s, {speed:.1f} images/s (training + "
        "validation)"
    )


if __name__ == "__main__":
    main()
