"""The new softmax head on cached features, and all its seeds trained together, in one graph.

The reference reports' head: the backbone's pooled output -> Dense(num_classes, softmax), Adam,
cross-entropy, `head.epochs` epochs. Labels are class indices, so the loss is Keras' sparse
categorical cross-entropy: the same value as categorical cross-entropy on one-hot labels.
`build_head` and `compile_classifier` make it as one Keras model (the saved heads, the LR range
test, fine-tuning); `fit_heads` trains one per seed at once (the stages baseline and train).

Seed s's Dense head is slice s of a kernel (seeds, features, classes) and a bias (seeds, classes).
Every step gathers each seed's batch from that seed's own permutation of the training set, and
the loss is the sum of the seeds' mean cross-entropies, so each slice's gradient is its own
seed's. Keras' Adam updates element-wise: stacked slices move exactly as separate optimizers
would move them. A seed's initial weights, batch order and dropout masks come from the seed
alone, so seed 42 trained alone and seed 42 trained among ten give the same head, to float32
rounding (tests/test_stacked.py states the tolerance).

Per epoch, as Keras' `fit` reports them: the training loss and accuracy averaged over the
epoch's batches as they were trained, then the validation loss and accuracy after the epoch.
"""

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

HISTORY_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss", "learning_rate")


def seed_everything(seed):
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow's ops deterministic: same
    seed, data and params, the same weights and metrics on CPU."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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


def glorot_uniform(rng, fan_in, fan_out):
    """Keras' Dense default initializer, drawn from `rng`."""
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)


def seed_streams(seeds, feature_dim, num_classes, examples, epochs):
    """Each seed's initial kernel and its batch order for every epoch, from that seed alone:
    (kernels (seeds, features, classes), orders (epochs, seeds, examples))."""
    rngs = [np.random.default_rng(seed) for seed in seeds]
    kernels = np.stack([glorot_uniform(rng, feature_dim, num_classes) for rng in rngs])
    orders = np.stack([[rng.permutation(examples) for rng in rngs] for _ in range(epochs)])
    return kernels, orders.astype(np.int32)


def logits_of(features, kernel, bias):
    """Every seed's logits: features (seeds, batch, dim) or, shared by all seeds, (batch, dim)."""
    equation = "sbd,sdc->sbc" if features.shape.rank == 3 else "bd,sdc->sbc"
    return tf.einsum(equation, features, kernel) + bias[:, None, :]


def loss_and_hits(labels, logits):
    """Per seed and example: the cross-entropy and whether the top class is the label."""
    labels = tf.broadcast_to(labels, tf.shape(logits)[:2])
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    hits = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
    return losses, hits


class StackedHeads:
    """`len(seeds)` softmax heads on the same features, trained one epoch per `train_epoch`."""

    def __init__(self, seeds, initial_kernels, batch_size, dropout):
        self.seeds = tf.constant(seeds, tf.int32)
        self.kernel = keras.Variable(initial_kernels, name="kernel")
        self.bias = keras.Variable(np.zeros(initial_kernels.shape[::2], np.float32), name="bias")
        self.optimizer = keras.optimizers.Adam()
        self.optimizer.build([self.kernel, self.bias])
        self.batch_size, self.dropout = batch_size, dropout

    def drop(self, features, step):
        """Each seed's own dropout mask, from (its seed, the step number)."""
        masks = tf.map_fn(
            lambda seed: tf.random.stateless_uniform(
                tf.shape(features)[1:], tf.stack([seed, step])
            ),
            self.seeds,
            fn_output_signature=tf.float32,
        )
        return tf.where(masks >= self.dropout, features / (1 - self.dropout), 0.0)

    def train_step(self, features, labels, step):
        with tf.GradientTape() as tape:
            if self.dropout:
                features = self.drop(features, step)
            losses, hits = loss_and_hits(labels, logits_of(features, self.kernel, self.bias))
            total = tf.reduce_sum(tf.reduce_mean(losses, axis=1))
        variables = [self.kernel, self.bias]
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return tf.reduce_sum(losses, axis=1), tf.reduce_sum(hits, axis=1)

    @tf.function
    def train_epoch(self, features, labels, order, first_step):
        """One epoch over `order` (seeds, examples): mean training loss and accuracy per seed."""
        examples = tf.shape(order)[1]
        loss_sum = hit_sum = tf.zeros(tf.shape(order)[:1])
        for start in tf.range(0, examples, self.batch_size):
            batch = order[:, start : start + self.batch_size]
            step = first_step + start // self.batch_size
            losses, hits = self.train_step(
                tf.gather(features, batch), tf.gather(labels, batch), step
            )
            loss_sum, hit_sum = loss_sum + losses, hit_sum + hits
        count = tf.cast(examples, tf.float32)
        return loss_sum / count, hit_sum / count

    @tf.function
    def evaluate(self, features, labels):
        """Mean validation loss and accuracy per seed."""
        losses, hits = loss_and_hits(labels, logits_of(features, self.kernel, self.bias))
        return tf.reduce_mean(losses, axis=1), tf.reduce_mean(hits, axis=1)

    def head_weights(self, index):
        """Seed `index`'s [kernel, bias], as a Dense layer holds them."""
        return [self.kernel.numpy()[index], self.bias.numpy()[index]]


def fit_heads(rate, settings, seeds, training, validation, num_classes, desc):
    """Train one head per seed with the learning rate `rate(epoch)` and the epochs, batch size
    and dropout of `settings` (the HeadConfig) on (features, labels) of the training and
    validation splits, with a progress bar over epochs: (StackedHeads, history) where history
    maps each of HISTORY_KEYS to an array (seeds, epochs)."""
    seed_everything(seeds[0])
    features, labels = (tf.constant(array) for array in training)
    val_features, val_labels = (tf.constant(array) for array in validation)
    epochs, batch_size = settings.epochs, settings.batch_size
    kernels, orders = seed_streams(seeds, features.shape[1], num_classes, len(labels), epochs)
    heads = StackedHeads(seeds, kernels, batch_size, settings.dropout)
    steps_per_epoch = -(-len(labels) // batch_size)
    history = {key: np.zeros((len(seeds), epochs), np.float32) for key in HISTORY_KEYS}
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch"):
        lr = rate(epoch)
        heads.optimizer.learning_rate.assign(lr)  # a variable: no retracing
        first_step = tf.constant(epoch * steps_per_epoch)
        loss, accuracy = heads.train_epoch(features, labels, tf.constant(orders[epoch]), first_step)
        val_loss, val_accuracy = heads.evaluate(val_features, val_labels)
        for key, values in zip(
            HISTORY_KEYS, (accuracy, loss, val_accuracy, val_loss, lr), strict=True
        ):
            history[key][:, epoch] = values
    return heads, history
