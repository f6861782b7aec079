"""The new softmax head on cached features, and all its seeds trained together, in one graph.

The reference reports' head: the backbone's pooled output -> Dense(num_classes, softmax), Adam,
cross-entropy, `head.epochs` epochs; `train.optimizer` picks another optimizer
(lrstudy/core/optimizers.py). Labels are class indices, so the loss is Keras' sparse
categorical cross-entropy: the same value as categorical cross-entropy on one-hot labels.
`build_head` and `compile_classifier` make it as one Keras model (the saved heads, the LR range
test, fine-tuning); `fit_heads` trains one per seed at once (the stages baseline and train).

Seed s's Dense head is slice s of a kernel (seeds, features, classes) and a bias (seeds, classes).
Every step gathers each seed's batch from that seed's own permutation of the training set, and
the loss is the sum of the seeds' mean cross-entropies, so each slice's gradient is its own
seed's. Every optimizer of the registry updates element-wise: stacked slices move exactly as
separate optimizers would move them. A seed's initial weights, batch order and dropout masks
come from the seed alone, so seed 42 trained alone and seed 42 trained among ten give the same
head, to float32 rounding (tests/test_stacked.py states the tolerance).

Per epoch, as Keras' `fit` reports them: the training loss and accuracy averaged over the
epoch's batches as they were trained, then the validation loss and accuracy after the epoch.
"""

import importlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from tqdm import tqdm

HISTORY_KEYS = ("accuracy", "loss", "val_accuracy", "val_loss", "learning_rate")
FOLD_CURVES = ("val_loss", "val_right")  # per head and epoch, on its fold's validation set


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


class ScheduleFreeAdamW(keras.optimizers.ScheduleFreeAdamW):
    """Schedule-free AdamW (Defazio et al. 2024) as the paper states it, on Keras' optimizer.

    The paper keeps three sequences: z takes Adam's steps, x is the running average of z
    (weight 1/t at a constant rate) and the gradient is taken at y = (1 - beta_1) z + beta_1 x.
    Keras keeps y in the variables and z in `_momentums`, and recovers x from them before each
    step. Keras 3.15 reads z for that after z has taken its step (its "momentum_old" is the
    variable itself, not a copy), which moves x by (1 - beta_1) / beta_1 times each step,
    against the gradient; this class recovers x before z moves. The rest (the second moment,
    its bias correction, warmup, weight decay applied to y by the base optimizer before the
    step) is Keras'. tests/test_stacked.py checks it against a NumPy reference of the paper."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, gradient = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2, epsilon = (
            ops.cast(v, dtype) for v in (self.beta_1, self.beta_2, self.epsilon)
        )
        if self.warmup_steps > 0:
            lr = lr * ops.minimum(step / ops.cast(self.warmup_steps, dtype), 1.0)
        index = self._get_variable_index(variable)
        z, velocity = self._momentums[index], self._velocities[index]

        x = average_of(variable, z, beta_1)  # read before z moves
        self.assign_add(velocity, (ops.square(gradient) - velocity) * (1 - beta_2))
        scale = ops.sqrt(velocity / (1 - ops.power(beta_2, step))) + epsilon
        self.assign_sub(z, lr * gradient / scale)
        x = (1 - 1 / step) * x + z / step
        self.assign(variable, (1 - beta_1) * z + beta_1 * x)


def make_optimizer(train, learning_rate=0.001, variables=None):
    """The Keras optimizer of `train` (the TrainConfig) at `learning_rate`, built on `variables`
    if given. Build it before `fit` or `train_on_batch`: Keras 3.15's ScheduleFreeAdamW, built
    lazily inside the traced training step, starts z at zero instead of at the weights."""
    module, name = train.spec.builder.split(":")
    optimizer_class = getattr(importlib.import_module(module), name)
    optimizer = optimizer_class(learning_rate=learning_rate, **train.values)
    if variables is not None:
        optimizer.build(variables)
    return optimizer


def averaged_iterate(optimizer, variables):
    """The weights to evaluate and save: the variables themselves, or for schedule-free AdamW
    its averaged iterate x. Keras keeps the training iterate y in the variables and z in
    `_momentums`, with y = (1 - beta_1) z + beta_1 x, so x = (y - (1 - beta_1) z) / beta_1."""
    if not isinstance(optimizer, keras.optimizers.ScheduleFreeAdamW):
        return list(variables)
    momentums = [optimizer._momentums[optimizer._get_variable_index(v)] for v in variables]
    return [average_of(y, z, optimizer.beta_1) for y, z in zip(variables, momentums, strict=True)]


def average_of(y, z, beta_1):
    """Schedule-free AdamW's average x from its iterates: y = (1 - beta_1) z + beta_1 x."""
    return (y - (1 - beta_1) * z) / beta_1


def compile_classifier(model, optimizer, metrics=("accuracy",), **options):
    """The reference reports' training setup: `optimizer` (a Keras optimizer), cross-entropy on
    class indices."""
    model.compile(
        optimizer=optimizer,
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
    """`len(seeds)` softmax heads on the same features, trained one epoch per `train_epoch` by
    the optimizer of `train` (the TrainConfig); evaluated and saved at `averaged_iterate`."""

    def __init__(self, seeds, initial_kernels, batch_size, dropout, train):
        self.seeds = tf.constant(seeds, tf.int32)
        self.kernel = keras.Variable(initial_kernels, name="kernel")
        self.bias = keras.Variable(np.zeros(initial_kernels.shape[::2], np.float32), name="bias")
        self.optimizer = make_optimizer(train, variables=[self.kernel, self.bias])
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

    def weights(self):
        """[kernel, bias] as evaluated and saved."""
        return averaged_iterate(self.optimizer, [self.kernel, self.bias])

    @tf.function
    def evaluate(self, features, labels):
        """Mean validation loss and accuracy per seed."""
        losses, hits = loss_and_hits(labels, logits_of(features, *self.weights()))
        return tf.reduce_mean(losses, axis=1), tf.reduce_mean(hits, axis=1)

    def head_weights(self, index):
        """Seed `index`'s [kernel, bias], as a Dense layer holds them."""
        return [np.asarray(weight)[index] for weight in self.weights()]

    @tf.function
    def evaluate_folds(self, features, labels, rows, real):
        """Each head on its own fold's images, heads fold-major (fold 1's seeds, then fold 2's):
        `rows` (folds, images) their rows of `features`, padded, `real` which are not padding.
        Per head, the mean loss; per head and image, whether its top class is the label."""
        kernel, bias = self.weights()
        folds = tf.shape(rows)[0]
        kernel = tf.reshape(kernel, tf.concat([[folds, -1], tf.shape(kernel)[1:]], axis=0))
        bias = tf.reshape(bias, tf.concat([[folds, -1], tf.shape(bias)[1:]], axis=0))
        logits = tf.einsum("kvd,ksdc->ksvc", tf.gather(features, rows), kernel)
        logits += bias[:, :, None, :]
        labels = tf.broadcast_to(tf.gather(labels, rows)[:, None, :], tf.shape(logits)[:3])
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels)
        weight = tf.broadcast_to(tf.cast(real, tf.float32)[:, None, :], tf.shape(losses))
        loss = tf.reduce_sum(losses * weight, axis=-1) / tf.reduce_sum(weight, axis=-1)
        hits = tf.logical_and(hits, tf.broadcast_to(real[:, None, :], tf.shape(hits)))
        return tf.reshape(loss, [-1]), tf.reshape(hits, [-1, tf.shape(rows)[1]])


def fit_heads(rate, settings, train, seeds, training, validation, num_classes, desc):
    """Train one head per seed with the optimizer of `train` (the TrainConfig) at the learning
    rate `rate(epoch)` and the epochs, batch size and dropout of `settings` (the HeadConfig)
    on (features, labels) of the training and validation splits, with a progress bar over
    epochs: (StackedHeads, history) where history maps each of HISTORY_KEYS to an array
    (seeds, epochs)."""
    seed_everything(seeds[0])
    features, labels = (tf.constant(array) for array in training)
    val_features, val_labels = (tf.constant(array) for array in validation)
    epochs, batch_size = settings.epochs, settings.batch_size
    kernels, orders = seed_streams(seeds, features.shape[1], num_classes, len(labels), epochs)
    heads = StackedHeads(seeds, kernels, batch_size, settings.dropout, train)
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


def padded(row_sets):
    """(rows (sets, longest), real) of index arrays of unequal lengths: padded with row 0,
    `real` False there."""
    longest = max(map(len, row_sets))
    rows = np.zeros((len(row_sets), longest), np.int32)
    real = np.zeros((len(row_sets), longest), bool)
    for index, members in enumerate(row_sets):
        rows[index, : len(members)], real[index, : len(members)] = members, True
    return tf.constant(rows), tf.constant(real)


def fit_fold_heads(rate, settings, train, seeds, data, num_classes, desc):
    """Train one head per fold and seed at once, as fit_heads trains one per seed: `data` is
    (features, labels, folds) of lrstudy/core/datasets.py's fold_features, every fold's
    training set the same size. Head (fold, seed) starts from seed's initial weights and takes
    seed's batch order over its fold's training images. Returns, heads fold-major, {"val_loss":
    (heads, epochs), "val_right": (heads, epochs) images right} on each head's fold's
    validation set, and (heads, images) whether each final head is right on its fold's test
    images (padded at the end to the largest fold's)."""
    features, labels, folds = data
    seed_everything(seeds[0])
    epochs, batch_size, count = settings.epochs, settings.batch_size, len(folds)
    training = np.stack([fold["training"] for fold in folds])  # (folds, examples): equal sizes
    kernels, orders = seed_streams(seeds, features.shape[1], num_classes, training.shape[1], epochs)
    # Each seed's permutation of positions, read as rows of each fold's training images.
    rows = training[:, orders].transpose(1, 0, 2, 3).reshape(epochs, count * len(seeds), -1)
    heads = StackedHeads(
        np.tile(seeds, count), np.tile(kernels, (count, 1, 1)), batch_size, settings.dropout, train
    )
    features, labels = tf.constant(features), tf.constant(labels)
    validation, test = (padded([fold[split] for fold in folds]) for split in ("validation", "test"))
    steps_per_epoch = -(-training.shape[1] // batch_size)
    curves = {key: np.zeros((count * len(seeds), epochs), np.float32) for key in FOLD_CURVES}
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch"):
        heads.optimizer.learning_rate.assign(rate(epoch))
        first_step = tf.constant(epoch * steps_per_epoch)
        heads.train_epoch(features, labels, tf.constant(rows[epoch]), first_step)
        loss, hits = heads.evaluate_folds(features, labels, *validation)
        curves["val_loss"][:, epoch] = loss
        curves["val_right"][:, epoch] = tf.reduce_sum(tf.cast(hits, tf.int32), axis=-1)
    return curves, heads.evaluate_folds(features, labels, *test)[1].numpy()
