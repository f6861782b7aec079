"""All seeds of a head in one graph (lrstudy/heads/training.py): each seed trains what it would
train alone, and what Keras' own `fit` trains from the same start in the same batch order."""

import keras
import numpy as np
import pytest

from lrstudy.core.config import HeadConfig
from lrstudy.core.schedules import exponential, step
from lrstudy.heads.training import fit_heads, seed_streams

EPOCHS, BATCH, CLASSES, DIM = 3, 16, 5, 32
# float32 rounding over EPOCHS epochs of Adam; on the CPUs tested, seeds alone and stacked agree
# bit for bit, and stacked and Keras' fit to ~1e-7.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (CLASSES, DIM))

    def split(count):
        labels = rng.integers(0, CLASSES, count).astype(np.int32)
        return (centres[labels] + rng.normal(0, 1.5, (count, DIM))).astype(np.float32), labels

    return split(101), split(37)  # 101: the last batch of every epoch is a short one


def fit(seeds, features, dropout=0.0, rate=None):
    rate = rate or (lambda epoch: exponential(epoch, EPOCHS, initial_lr=0.01, k=0.3))
    settings = HeadConfig(epochs=EPOCHS, batch_size=BATCH, dropout=dropout, seed=0, repeats=1)
    return fit_heads(rate, settings, seeds, *features, CLASSES, desc="test")


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_a_seed_trains_the_same_head_alone_as_among_others(features, dropout):
    alone, alone_history = fit([43], features, dropout)
    among, among_history = fit([42, 43, 44], features, dropout)
    for key, curves in alone_history.items():
        np.testing.assert_allclose(curves[0], among_history[key][1], atol=TOLERANCE, err_msg=key)
    for mine, theirs in zip(alone.head_weights(0), among.head_weights(1), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=TOLERANCE)
    assert not np.allclose(among_history["loss"][0], among_history["loss"][1])  # own streams


def test_stacked_seeds_train_what_keras_fit_trains_from_the_same_start(features):
    (x_train, y_train), validation = features

    def rate(epoch):
        return step(epoch, EPOCHS, initial_lr=0.02, drop=0.5, epochs_drop=2)

    heads, history = fit([42, 7], features, rate=rate)

    kernels, orders = seed_streams([42, 7], DIM, CLASSES, len(y_train), EPOCHS)
    model = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(CLASSES)])
    model.set_weights([kernels[1], np.zeros(CLASSES, np.float32)])
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    for epoch in range(EPOCHS):
        model.optimizer.learning_rate.assign(rate(epoch))
        order = orders[epoch, 1]
        logs = model.fit(
            x_train[order], y_train[order], batch_size=BATCH, shuffle=False, verbose=0
        ).history
        val_loss, val_accuracy = model.evaluate(*validation, verbose=0)
        np.testing.assert_allclose(history["loss"][1, epoch], logs["loss"][0], rtol=TOLERANCE)
        assert history["accuracy"][1, epoch] == pytest.approx(logs["accuracy"][0])
        np.testing.assert_allclose(history["val_loss"][1, epoch], val_loss, rtol=TOLERANCE)
        assert history["val_accuracy"][1, epoch] == pytest.approx(val_accuracy)
        assert history["learning_rate"][1, epoch] == pytest.approx(rate(epoch))
    for mine, theirs in zip(heads.head_weights(1), model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, atol=TOLERANCE)


def test_a_seeds_streams_depend_on_that_seed_alone():
    kernels, orders = seed_streams([5, 6], DIM, CLASSES, 50, EPOCHS)
    alone_kernels, alone_orders = seed_streams([6], DIM, CLASSES, 50, EPOCHS)
    assert np.array_equal(kernels[1], alone_kernels[0])
    assert np.array_equal(orders[:, 1], alone_orders[:, 0])
    assert all(sorted(order) == list(range(50)) for order in orders.reshape(-1, 50))
    assert not np.array_equal(orders[0, 0], orders[1, 0])  # reshuffled every epoch
    limit = np.sqrt(6 / (DIM + CLASSES))  # Glorot uniform, Keras' Dense default
    assert np.abs(kernels).max() <= limit
