"""All seeds of a head in one graph (lrstudy/heads/training.py): each seed trains what it would
train alone, and what Keras' own `fit` trains from the same start in the same batch order, with
every optimizer of the registry; schedule-free AdamW is evaluated at its averaged iterate."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lrstudy.core.config import HeadConfig, TrainConfig
from lrstudy.core.optimizers import OPTIMIZERS
from lrstudy.core.schedules import exponential, step
from lrstudy.heads.training import (
    averaged_iterate,
    fit_fold_heads,
    fit_heads,
    make_optimizer,
    seed_streams,
)

EPOCHS, BATCH, CLASSES, DIM = 3, 16, 5, 32
# float32 rounding over EPOCHS epochs; on the CPUs tested, seeds alone and stacked agree bit for
# bit, and stacked and Keras' fit to ~1e-7.
TOLERANCE = 1e-5


def train_config(optimizer):
    return TrainConfig(optimizer=optimizer, momentum=0.9, weight_decay=0.004)


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (CLASSES, DIM))

    def split(count):
        labels = rng.integers(0, CLASSES, count).astype(np.int32)
        return (centres[labels] + rng.normal(0, 1.5, (count, DIM))).astype(np.float32), labels

    return split(101), split(37)  # 101: the last batch of every epoch is a short one


def fit(seeds, features, dropout=0.0, rate=None, optimizer="adam"):
    rate = rate or (lambda epoch: exponential(epoch, EPOCHS, initial_lr=0.01, k=0.3))
    settings = HeadConfig(epochs=EPOCHS, batch_size=BATCH, dropout=dropout, seed=0, repeats=1)
    train = train_config(optimizer)
    return fit_heads(rate, settings, train, seeds, *features, CLASSES, desc="test")


@pytest.mark.parametrize(
    ("optimizer", "dropout"), [*((name, 0.0) for name in OPTIMIZERS), ("adam", 0.3)]
)
def test_a_seed_trains_the_same_head_alone_as_among_others(features, optimizer, dropout):
    alone, alone_history = fit([43], features, dropout, optimizer=optimizer)
    among, among_history = fit([42, 43, 44], features, dropout, optimizer=optimizer)
    for key, curves in alone_history.items():
        np.testing.assert_allclose(curves[0], among_history[key][1], atol=TOLERANCE, err_msg=key)
    for mine, theirs in zip(alone.head_weights(0), among.head_weights(1), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=TOLERANCE)
    assert not np.allclose(among_history["loss"][0], among_history["loss"][1])  # own streams


def validation_figures(weights, features, labels):
    """Mean cross-entropy and accuracy of a Dense softmax with `weights` [kernel, bias]."""
    logits = features @ weights[0] + weights[1]
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits).numpy()
    return losses.mean(), (logits.argmax(axis=1) == labels).mean()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_stacked_seeds_train_what_keras_fit_trains_from_the_same_start(features, optimizer):
    (x_train, y_train), validation = features

    def rate(epoch):
        return step(epoch, EPOCHS, initial_lr=0.02, drop=0.5, epochs_drop=2)

    heads, history = fit([42, 7], features, rate=rate, optimizer=optimizer)

    kernels, orders = seed_streams([42, 7], DIM, CLASSES, len(y_train), EPOCHS)
    model = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(CLASSES)])
    model.set_weights([kernels[1], np.zeros(CLASSES, np.float32)])
    model.compile(
        optimizer=make_optimizer(train_config(optimizer), variables=model.trainable_variables),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    for epoch in range(EPOCHS):
        model.optimizer.learning_rate.assign(rate(epoch))
        order = orders[epoch, 1]
        logs = model.fit(
            x_train[order], y_train[order], batch_size=BATCH, shuffle=False, verbose=0
        ).history
        evaluated = [np.asarray(w) for w in averaged_iterate(model.optimizer, model.weights)]
        val_loss, val_accuracy = validation_figures(evaluated, *validation)
        np.testing.assert_allclose(history["loss"][1, epoch], logs["loss"][0], rtol=TOLERANCE)
        assert history["accuracy"][1, epoch] == pytest.approx(logs["accuracy"][0])
        np.testing.assert_allclose(history["val_loss"][1, epoch], val_loss, rtol=TOLERANCE)
        assert history["val_accuracy"][1, epoch] == pytest.approx(val_accuracy)
        assert history["learning_rate"][1, epoch] == pytest.approx(rate(epoch))
    for mine, theirs in zip(heads.head_weights(1), evaluated, strict=True):
        np.testing.assert_allclose(mine, theirs, atol=TOLERANCE)


def schedule_free_reference(start, gradient, lr, steps, weight_decay, beta_1=0.9, beta_2=0.999):
    """Schedule-free AdamW (Defazio et al. 2024, Algorithm 1, constant rate, no warmup) in
    NumPy: (x, y) after `steps` steps from `start`. Keras decays y by lr * weight_decay before
    each step (the paper decays within z's step); with no decay the two are the same."""
    z, x, v = start.copy(), start.copy(), np.zeros_like(start)
    for t in range(1, steps + 1):
        y = (1 - beta_1) * z + beta_1 * x
        g = gradient(y)
        x = (y - lr * weight_decay * y - (1 - beta_1) * z) / beta_1
        v = beta_2 * v + (1 - beta_2) * g**2
        z = z - lr * g / (np.sqrt(v / (1 - beta_2**t)) + 1e-8)
        x = (1 - 1 / t) * x + z / t
    return x, (1 - beta_1) * z + beta_1 * x


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_the_averaged_iterate_of_schedule_free_adamw_is_the_papers_x(weight_decay):
    train = TrainConfig(optimizer="schedulefree_adamw", momentum=0.9, weight_decay=weight_decay)
    rng = np.random.default_rng(1)
    matrix, target, start = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=4)

    def gradient(w):  # of 0.5 * |matrix @ w - target|^2
        return matrix.T @ (matrix @ w - target)

    variable = keras.Variable(start.astype(np.float32))
    optimizer = make_optimizer(train, 0.05, [variable])
    for _ in range(20):
        optimizer.apply_gradients([(tf.constant(gradient(variable.numpy()), tf.float32), variable)])
    x, y = schedule_free_reference(start, gradient, 0.05, 20, weight_decay)
    np.testing.assert_allclose(variable.numpy(), y, atol=1e-5)
    np.testing.assert_allclose(averaged_iterate(optimizer, [variable])[0], x, atol=1e-5)
    assert not np.allclose(x, y, atol=1e-3)  # the average is not the training iterate


def test_a_seeds_streams_depend_on_that_seed_alone():
    kernels, orders = seed_streams([5, 6], DIM, CLASSES, 50, EPOCHS)
    alone_kernels, alone_orders = seed_streams([6], DIM, CLASSES, 50, EPOCHS)
    assert np.array_equal(kernels[1], alone_kernels[0])
    assert np.array_equal(orders[:, 1], alone_orders[:, 0])
    assert all(sorted(order) == list(range(50)) for order in orders.reshape(-1, 50))
    assert not np.array_equal(orders[0, 0], orders[1, 0])  # reshuffled every epoch
    limit = np.sqrt(6 / (DIM + CLASSES))  # Glorot uniform, Keras' Dense default
    assert np.abs(kernels).max() <= limit


def test_keras_own_schedule_free_adamw_strays_from_the_paper():
    """Why lrstudy/heads/training.py has its own ScheduleFreeAdamW: once this fails, Keras' class
    is right and the registry can name it."""
    rng = np.random.default_rng(1)
    matrix, target, start = rng.normal(size=(6, 4)), rng.normal(size=6), rng.normal(size=4)

    def gradient(w):
        return matrix.T @ (matrix @ w - target)

    variable = keras.Variable(start.astype(np.float32))
    optimizer = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.05)
    optimizer.build([variable])
    for _ in range(20):
        optimizer.apply_gradients([(tf.constant(gradient(variable.numpy()), tf.float32), variable)])
    _, y = schedule_free_reference(start, gradient, 0.05, 20, weight_decay=0.0)
    assert not np.allclose(variable.numpy(), y, atol=1e-3)


def test_a_fold_and_seed_trains_what_the_seed_alone_trains_on_that_fold(features):
    """The study's folds x seeds heads in one graph (fit_fold_heads): head (fold, seed) is the
    head fit_heads trains with that seed on the fold's training images, and is judged on the
    fold's own validation and test images (of unequal sizes)."""
    (x_train, y_train), (x_val, y_val) = features
    x, y = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    rng = np.random.default_rng(5)
    order = rng.permutation(len(y))
    folds = [  # equal training sets, as the split makes them; the rest of unequal sizes
        {"training": order[:60], "validation": order[60:75], "test": order[75:100]},
        {"training": order[70:130], "validation": order[130:137], "test": order[:20]},
    ]
    settings = HeadConfig(epochs=EPOCHS, batch_size=BATCH, dropout=0.0, seed=0, repeats=1)
    train = train_config("adam")

    def rate(epoch):
        return exponential(epoch, EPOCHS, initial_lr=0.01, k=0.3)

    curves, hits = fit_fold_heads(rate, settings, train, [42, 43], (x, y, folds), CLASSES, "t")
    fold = folds[1]  # head (fold 2, seed 43): row 1 * 2 + 1
    alone, history = fit_heads(
        rate,
        settings,
        train,
        [43],
        (x[fold["training"]], y[fold["training"]]),
        (x[fold["validation"]], y[fold["validation"]]),
        CLASSES,
        desc="test",
    )
    np.testing.assert_allclose(curves["val_loss"][3], history["val_loss"][0], atol=TOLERANCE)
    right = np.rint(history["val_accuracy"][0] * len(fold["validation"]))
    np.testing.assert_array_equal(curves["val_right"][3], right)
    kernel, bias = alone.head_weights(0)
    predicted = (x[fold["test"]] @ kernel + bias).argmax(axis=1)
    np.testing.assert_array_equal(hits[3, : len(fold["test"])], predicted == y[fold["test"]])
    assert not hits[3, len(fold["test"]) :].any()  # the padding counts as nothing
