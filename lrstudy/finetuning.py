"""The reference reports' section 3: the top of the backbone fine-tuned with the scheduled head
(stage `finetune`), resumable.

The recipe of Keras' EfficientNet fine-tuning example: start from the head trained by `train`
on the same frozen backbone, unfreeze the last `finetune.unfreeze_blocks` blocks (and the 1x1
conv above them) while every BatchNormalization layer stays frozen and in inference mode
(lrstudy/backbone/build.py), and train on images (not cached features) with Adam at a low
learning rate (`finetune.schedule.*`, per epoch, the schedules of lrstudy/core/schedules.py) and
optional light augmentation (in the tf.data pipeline, so the saved model holds no
augmentation layers). The frozen bottom runs on the chosen runtime
(lrstudy/backbone/runtime.py); the saved model is the same either way: pixels ->
`frozen_bottom` -> `trainable_top` -> class probabilities. Its dvclive steps continue the head's
(`head.epochs`, `head.epochs + 1`, ...), so `dvc plots` draws one curve.

Resuming: after every epoch the model (weights and optimizer state) and the history so far are
saved together, as one atomic output, so a checkpoint is never half-written. A rerun with the
same fingerprint (params and inputs) continues after its last completed epoch; any other rerun
starts over. Keras' BackupAndRestore does the first half of this but keeps no history, and the
history is what lets the dvclive logs of a resumed run come out exactly as one uninterrupted
run's.
"""

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from lrstudy.backbone.build import (
    assemble,
    build_backbone,
    split_backbone,
    trainable_part,
    unfreeze_top,
)
from lrstudy.backbone.runtime import image_dataset
from lrstudy.core.config import ParamError
from lrstudy.core.outputs import (
    atomic_output,
    keep_in_summary,
    log_epoch,
    open_live,
    recover,
    save_model,
)
from lrstudy.core.paths import logs_dir, manifest_path, model_file
from lrstudy.heads.training import compile_classifier

HEAD_MODEL = model_file("scheduled")
MODEL_FILE, STATE_FILE = "model.keras", "state.json"  # a checkpoint's


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
    full: keras.Model  # pixels -> class probabilities: what data/models/finetuned.keras holds
    fitted: keras.Model  # what `fit` trains and the checkpoint keeps (the runtime's choice)
    unfrozen: tuple  # the unfrozen blocks' names


def finetune_models(backbone_settings, settings, runtime, checkpointed=None):
    """The scheduled head on the backbone with its top blocks unfrozen, the frozen bottom on
    `runtime` and the rest compiled; or, given the model a checkpoint kept, the same around it.
    `backbone_settings`, `settings`: the BackboneConfig and FinetuneConfig."""
    backbone = build_backbone(backbone_settings)
    unfrozen = unfreeze_top(backbone, settings.unfreeze_blocks, backbone_settings.spec)
    frozen, top = split_backbone(backbone)
    forward = runtime(frozen)
    if checkpointed is not None:
        full = assemble(frozen, forward.trainable_of(checkpointed))
        return FinetuneModels(forward, full, checkpointed, tuple(unfrozen))
    full = assemble(frozen, trainable_part(top, keras.models.load_model(HEAD_MODEL)))
    optimizer = keras.optimizers.Adam(learning_rate=settings.rate(0))
    fitted = compile_classifier(forward.fitted_part(full), optimizer)
    return FinetuneModels(forward, full, fitted, tuple(unfrozen))


def fingerprint(backbone_settings, settings, runtime):
    """What a checkpoint must match to be resumed: the params, the runtime (it decides what the
    checkpoint holds) and the input files."""
    values = {item.name: getattr(settings, item.name) for item in dataclasses.fields(settings)}
    values["schedule"] = settings.schedule.as_params()
    state = [dataclasses.asdict(backbone_settings), values, runtime.name]
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode())
    for path in (HEAD_MODEL, manifest_path("training"), manifest_path("validation")):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def finetune_datasets(training, validation, image_size, settings, replicas, forward):
    """(training, validation) pipelines of what the fitted model takes (`forward`: the frozen
    bottom on its runtime) from the splits' (paths, labels); training reshuffled each epoch and
    augmented."""
    batches = dict(image_size=image_size, batch_size=settings.batch_size, replicas=replicas)
    (training_paths, training_labels), (validation_paths, validation_labels) = training, validation
    training_data = image_dataset(
        training_paths, labels=training_labels, shuffle_seed=settings.seed, **batches
    )
    if settings.augment:  # in the input pipeline, on the CPU, overlapping the training steps
        augment = augmentation(settings.seed)
        training_data = training_data.map(
            lambda pixels, *target: (augment(pixels, training=True), *target),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    validation_data = image_dataset(validation_paths, labels=validation_labels, **batches)
    return (
        forward.training_inputs(training_data, len(training_paths)),
        forward.training_inputs(validation_data, len(validation_paths), cache=True),
    )


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + history (and the seconds trained) after each epoch into `directory`."""

    def __init__(self, directory, fingerprint, history=None, seconds=0.0):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.history = history or []
        self.seconds = seconds
        self._epoch_started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._epoch_started
        self.history.append({key: float(value) for key, value in (logs or {}).items()})
        state = {"fingerprint": self.fingerprint, "history": self.history, "seconds": self.seconds}
        with atomic_output(self.directory) as partial:
            partial.mkdir()
            save_model(self.model, partial / MODEL_FILE)
            (partial / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def load_checkpoint(directory, fingerprint):
    """(model, history, seconds) saved by EpochCheckpoint for this fingerprint, or None: none
    there, another run's, or a damaged one (said in a warning; fine-tuning starts over)."""
    directory = Path(directory)
    recover(directory)
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return None
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        if state["fingerprint"] != fingerprint:
            return None
        history, seconds = state["history"], float(state["seconds"])
        if not isinstance(history, list) or not all(isinstance(logs, dict) for logs in history):
            raise ValueError("its history is no list of epochs")
        model = keras.models.load_model(directory / MODEL_FILE)
    except Exception as error:  # json's, Keras' and zipfile's errors: whatever it holds is lost
        what = f"{type(error).__name__}: {' '.join(str(error).split())[:120]}"
        print(
            f"finetune: warning: the checkpoint in {directory} is damaged ({what}); starting over"
        )
        return None
    return model, history, seconds


class EpochLog(keras.callbacks.Callback):
    """Each epoch's logs into dvclive, as the heads' curves are named."""

    def __init__(self, live):
        super().__init__()
        self.live = live

    def on_epoch_end(self, epoch, logs=None):
        log_epoch(self.live, logs or {})


def fit_logged(model, training, validation, checkpoint, settings, first_step):
    """Fit from the checkpoint's last epoch to `settings.epochs` (the FinetuneConfig) at the
    learning rate of its schedule, logging with dvclive from step `first_step` on; returns (best
    val accuracy, its epoch counted from 1 as Keras prints it)."""
    with open_live(logs_dir("finetune")) as live:
        live.step = first_step
        logger = EpochLog(live)
        for logs in checkpoint.history:  # a resumed run first rewrites the epochs it keeps
            log_epoch(live, logs)
        model.fit(
            training,
            validation_data=validation,
            epochs=settings.epochs,
            initial_epoch=len(checkpoint.history),
            shuffle=False,  # the dataset reshuffles itself, seeded, every epoch
            verbose=1,
            # the rate first, so that each epoch's logs hold it; then the checkpoint, so that
            # what is logged is also saved
            callbacks=[
                keras.callbacks.LearningRateScheduler(lambda epoch, _: settings.rate(epoch)),
                checkpoint,
                logger,
            ],
        )
        accuracy = [logs["val_accuracy"] for logs in checkpoint.history]
        best = max(range(len(accuracy)), key=accuracy.__getitem__)
        keep_in_summary(
            live,
            {
                "final_val_accuracy": accuracy[-1],
                "best_val_accuracy": accuracy[best],
                "final_val_loss": checkpoint.history[-1]["val_loss"],
            },
        )
    return accuracy[best], best + 1
