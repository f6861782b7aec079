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
from tqdm import tqdm

from lrstudy.layout import FEATURES_DIR, METRICS_DIR, MODELS_DIR, atomic_output, write_json
from lrstudy.params import number
from lrstudy.statistics import curve_band, mean_std, per_seed_results, summarize
from lrstudy.tracking import open_live

STEPS_PER_EXECUTION = 64
HISTORY_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss", "learning_rate")
HISTORY_DIGITS = 7  # significant: float32 precision, and repeats.json stays small


def training_settings(params):
    return {
        "epochs": number(params, "train.epochs", minimum=1, integer=True),
        "batch_size": number(params, "train.batch_size", minimum=1, integer=True),
        "dropout": number(params, "train.dropout", minimum=0, maximum=0.99),
        "seed": number(params, "train.seed", minimum=0, integer=True),
        "repeats": number(params, "train.repeats", minimum=1, maximum=100, integer=True),
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


def repeat_seeds(settings):
    """The seeds of the repeats: train.seed, train.seed + 1, ... (train.repeats of them)."""
    return [settings["seed"] + repeat for repeat in range(settings["repeats"])]


def fit_head(schedule, settings, seed, train_features, validation):
    """One head trained from `seed` (its initial weights and batch order); (model, history)."""
    keras.backend.clear_session()
    seed_everything(seed)
    features, labels = train_features
    train = feature_batches(features, labels, settings["batch_size"], shuffle_seed=seed)
    model = build_head(features.shape[1], class_count(), settings["dropout"])
    # A head step takes microseconds; running many per graph call removes the per-step
    # Python overhead that otherwise dominates (bench/: ~5x faster epochs, same results).
    compile_classifier(model, schedule(0, None), steps_per_execution=STEPS_PER_EXECUTION)
    history = model.fit(
        train,
        epochs=settings["epochs"],
        validation_data=validation,
        verbose=0,
        shuffle=False,  # `train` reshuffles itself, in the seed's order
        callbacks=[keras.callbacks.LearningRateScheduler(schedule)],
    )
    return model, history.history


def log_repeats(directory, seeds, history):
    """dvclive logs of the repeats in `directory`: per-epoch mean curves (and their standard
    deviation over seeds, `<metric>_std`) for `dvc plots`, and in metrics.json the mean,
    standard deviation and 95 % interval of the final and best validation accuracy and loss.
    repeats.json keeps every seed's curves, from which the study tests its differences."""
    means = {key: curve_band(runs) for key, runs in history.items()}
    with open_live(directory) as live:
        for epoch in range(len(means["loss"][0])):
            for key, (mean, std) in means.items():
                split, metric = ("eval", key[4:]) if key.startswith("val_") else ("train", key)
                live.log_metric(f"{split}/{metric}", mean[epoch])
                if metric != "learning_rate":
                    live.log_metric(f"{split}/{metric}_std", std[epoch])
            live.next_step()
        live.summary["repeats"] = len(seeds)
        for key, values in per_seed_results(history).items():
            live.summary[key] = summarize(values)
        live.summary["best_epoch_of_mean"] = int(np.argmax(means["val_accuracy"][0]))
    write_json(directory / "repeats.json", {"seeds": seeds, "history": history})
    return live.summary


def train_head(name, schedule, settings):
    """Fit the head once per seed with `schedule(epoch, lr)`; log the repeats to metrics/<name>/
    and save the first seed's model as models/<name>.keras (the one `finetune` continues)."""
    train_features = load_features("train")
    validation = feature_batches(*load_features("val"), settings["batch_size"])
    seeds = repeat_seeds(settings)
    runs = []
    started = time.perf_counter()
    for seed in tqdm(seeds, desc=f"{name}: seeds", unit="seed"):
        model, history = fit_head(schedule, settings, seed, train_features, validation)
        runs.append(history)
        if seed == seeds[0]:
            with atomic_output(MODELS_DIR / f"{name}.keras") as partial:
                model.save(partial)
    wall_time = time.perf_counter() - started

    history = {
        key: [[float(f"{value:.{HISTORY_DIGITS}g}") for value in run[key]] for run in runs]
        for key in HISTORY_KEYS
    }
    summary = log_repeats(METRICS_DIR / name, seeds, history)
    # Wall time lives apart from metrics.json, which stays byte-identical across reruns.
    write_json(METRICS_DIR / name / "time.json", {"wall_time_s": round(wall_time, 2)})
    print(
        f"{name}: final val accuracy {mean_std(summary['final_val_accuracy'])} over "
        f"{len(seeds)} seeds, best {mean_std(summary['best_val_accuracy'])}, {wall_time:.1f} s"
    )
