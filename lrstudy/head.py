"""Training the new softmax head on cached features, shared by the stages `baseline` and `train`.

The seeds' head: the backbone's pooled output -> Dense(num_classes, softmax), Adam,
cross-entropy, `train.epochs` epochs. Labels are class indices, so the loss is Keras'
sparse categorical cross-entropy: the same value as categorical cross-entropy on one-hot labels.
"""

import json
import time

import keras
import numpy as np
import tensorflow as tf
from dvclive.keras import DVCLiveCallback

from lrstudy.layout import FEATURES_DIR, METRICS_DIR, MODELS_DIR, atomic_output, write_json
from lrstudy.params import number
from lrstudy.tracking import open_live

STEPS_PER_EXECUTION = 64


def training_settings(params):
    return {
        "epochs": number(params, "train.epochs", minimum=1, integer=True),
        "batch_size": number(params, "train.batch_size", minimum=1, integer=True),
        "dropout": number(params, "train.dropout", minimum=0, maximum=0.99),
        "seed": number(params, "train.seed", minimum=0, integer=True),
    }


def load_features(split):
    return (
        np.load(FEATURES_DIR / f"{split}_features.npy"),
        np.load(FEATURES_DIR / f"{split}_labels.npy"),
    )


def class_count():
    return len(json.loads((FEATURES_DIR / "info.json").read_text(encoding="utf-8"))["classes"])


def feature_batches(features, labels, batch_size, shuffle_seed=None):
    """Cached features as a tf.data pipeline, reshuffled every epoch in a seeded order if asked."""
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def build_head(feature_dim, num_classes, dropout):
    inputs = keras.Input(shape=(feature_dim,), name="features")
    x = keras.layers.Dropout(dropout, name="dropout")(inputs) if dropout else inputs
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name="head")


def compile_classifier(model, learning_rate, metrics=("accuracy",), **options):
    """The seeds' training setup: Adam at `learning_rate`, cross-entropy on class indices."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=list(metrics),
        **options,
    )
    return model


def seed_everything(seed):
    """Same seed, same data, same params -> the same weights and metrics on CPU."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_head(name, schedule, settings):
    """Fit a head with `schedule(epoch, lr)`; log to metrics/<name>/, save models/<name>.keras."""
    seed_everything(settings["seed"])
    x_train, y_train = load_features("train")
    train = feature_batches(x_train, y_train, settings["batch_size"], shuffle_seed=settings["seed"])
    validation = feature_batches(*load_features("val"), settings["batch_size"])
    model = build_head(x_train.shape[1], class_count(), settings["dropout"])
    # A head step takes microseconds; running many per graph call removes the per-step
    # Python overhead that otherwise dominates (bench/: ~5x faster epochs, same results).
    compile_classifier(model, schedule(0, None), steps_per_execution=STEPS_PER_EXECUTION)

    started = time.perf_counter()
    with open_live(METRICS_DIR / name) as live:
        history = model.fit(
            train,
            epochs=settings["epochs"],
            validation_data=validation,
            verbose=2,
            # The scheduler comes first: it adds `learning_rate` to the logs dvclive records.
            callbacks=[keras.callbacks.LearningRateScheduler(schedule), DVCLiveCallback(live=live)],
        )
        val_accuracy = history.history["val_accuracy"]
        best_epoch = int(np.argmax(val_accuracy))
        live.summary["best_val_accuracy"] = val_accuracy[best_epoch]
        live.summary["best_epoch"] = best_epoch
    wall_time = time.perf_counter() - started

    # Wall time lives apart from metrics.json, which stays byte-identical across reruns.
    write_json(METRICS_DIR / name / "time.json", {"wall_time_s": round(wall_time, 2)})
    with atomic_output(MODELS_DIR / f"{name}.keras") as partial:
        model.save(partial)
    print(
        f"{name}: best val accuracy {val_accuracy[best_epoch]:.4f} at epoch {best_epoch} "
        f"(0-based), final {val_accuracy[-1]:.4f}, {wall_time:.1f} s"
    )
