"""The new softmax head on cached features: its settings (`train.*`), its Keras model, and the
reference reports' training setup (the stages `lr_range` and `finetune` compile it; `baseline`
and `train` train all seeds at once: lrstudy/training/stacked.py).

The reference reports' head: the backbone's pooled output -> Dense(num_classes, softmax), Adam,
cross-entropy, `train.epochs` epochs. Labels are class indices, so the loss is Keras' sparse
categorical cross-entropy: the same value as categorical cross-entropy on one-hot labels.
"""

import keras

from lrstudy.params import MAX_SEED, number


def training_settings(params):
    """train.*, checked; the seeds train.seed ... train.seed + repeats - 1 all stay 32-bit."""
    repeats = number(params, "train.repeats", minimum=1, maximum=100, integer=True)
    return {
        "epochs": number(params, "train.epochs", minimum=1, integer=True),
        "batch_size": number(params, "train.batch_size", minimum=1, integer=True),
        "dropout": number(params, "train.dropout", minimum=0, maximum=0.99),
        "seed": number(
            params, "train.seed", minimum=0, maximum=MAX_SEED - repeats + 1, integer=True
        ),
        "repeats": repeats,
    }


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
