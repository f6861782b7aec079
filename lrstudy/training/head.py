"""The new softmax head on cached features, as the stages `baseline`, `train` and `lr_range`
train it.

The reference reports' head: the backbone's pooled output -> Dense(num_classes, softmax), Adam,
cross-entropy, `train.epochs` epochs. Labels are class indices, so the loss is Keras' sparse
categorical cross-entropy: the same value as categorical cross-entropy on one-hot labels.
"""

import keras
import tensorflow as tf

from lrstudy.params import number
from lrstudy.training.determinism import seed_everything

STEPS_PER_EXECUTION = 64


def training_settings(params):
    return {
        "epochs": number(params, "train.epochs", minimum=1, integer=True),
        "batch_size": number(params, "train.batch_size", minimum=1, integer=True),
        "dropout": number(params, "train.dropout", minimum=0, maximum=0.99),
        "seed": number(params, "train.seed", minimum=0, integer=True),
        "repeats": number(params, "train.repeats", minimum=1, maximum=100, integer=True),
    }


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
    """The reference reports' training setup: Adam at `learning_rate`, cross-entropy on class
    indices."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=list(metrics),
        **options,
    )
    return model


def fit_head(schedule, settings, seed, train_features, validation, num_classes):
    """One head trained from `seed` (its initial weights and batch order); (model, history)."""
    keras.backend.clear_session()
    seed_everything(seed)
    features, labels = train_features
    train = feature_batches(features, labels, settings["batch_size"], shuffle_seed=seed)
    model = build_head(features.shape[1], num_classes, settings["dropout"])
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
