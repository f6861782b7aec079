import math

import keras
import numpy as np
import pytest

from lrstudy.params import ParamError
from lrstudy.schedules import (
    exponential,
    fixed,
    ignored_params,
    make_schedule,
    schedule_settings,
    step,
)


def schedule_params(**values):
    base = {"name": "exp", "initial_lr": 0.01, "k": 0.1, "drop": 0.5, "epochs_drop": 10}
    return {"schedule": {**base, **values}}


def test_fixed_is_constant():
    assert [fixed(epoch, 0.001) for epoch in (0, 1, 49)] == [0.001, 0.001, 0.001]


def test_exponential_matches_hand_computed_values():
    # 0.01 * e^-3 = 0.01 * 0.0497870684 (the seeds' best setting, epoch 10)
    assert exponential(0, 0.01, 0.3) == 0.01
    assert exponential(10, 0.01, 0.3) == pytest.approx(0.000497870684, rel=1e-9)
    assert exponential(1, 0.1, 0.1) == pytest.approx(0.0904837418, rel=1e-9)


def test_step_keeps_the_seeds_one_plus_epoch_off_by_one():
    # epochs_drop=10: epochs 0..8 at initial_lr, the first halving at epoch 9, the next at 19.
    lrs = [step(epoch, 0.1, 0.5, 10) for epoch in range(21)]
    assert lrs[:9] == [0.1] * 9
    assert lrs[9:19] == [0.05] * 10
    assert lrs[19:] == [0.025, 0.025]
    # epochs_drop=3: floor((1 + 2) / 3) = 1 already at epoch 2.
    assert [step(epoch, 0.01, 0.5, 3) for epoch in range(6)] == [
        0.01,
        0.01,
        0.005,
        0.005,
        0.005,
        0.0025,
    ]


def test_dvc_style_small_floats_written_as_strings_are_read_as_numbers():
    name, values = schedule_settings(schedule_params(initial_lr="1e-05", k="0.3"))
    assert (name, values) == ("exp", {"initial_lr": 1e-05, "k": 0.3})


def test_settings_keep_only_what_the_schedule_uses():
    assert schedule_settings(schedule_params(name="step")) == (
        "step",
        {"initial_lr": 0.01, "drop": 0.5, "epochs_drop": 10.0},
    )
    assert ignored_params(schedule_params(name="fixed")) == ["drop", "epochs_drop", "k"]
    assert ignored_params(schedule_params(name="step")) == ["k"]


@pytest.mark.parametrize(
    "values, key",
    [
        ({"name": "cosine"}, "schedule.name"),
        ({"initial_lr": 0}, "schedule.initial_lr"),
        ({"initial_lr": -0.1}, "schedule.initial_lr"),
        ({"initial_lr": "fast"}, "schedule.initial_lr"),
        ({"k": -0.3}, "schedule.k"),
        ({"name": "step", "drop": 1.5}, "schedule.drop"),
        ({"name": "step", "drop": 0}, "schedule.drop"),
        ({"name": "step", "epochs_drop": 0}, "schedule.epochs_drop"),
    ],
)
def test_bad_values_are_refused_with_key_value_and_allowed_range(values, key):
    with pytest.raises(ParamError) as error:
        schedule_settings(schedule_params(**values))
    message = str(error.value)
    assert key in message and "expected" in message
    assert repr(next(iter(v for k, v in values.items() if f"schedule.{k}" == key))) in message


def test_keras_applies_the_schedule_each_epoch():
    schedule = make_schedule("exp", {"initial_lr": 0.01, "k": 0.3})
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    history = model.fit(
        np.zeros((4, 2)),
        np.zeros(4),
        epochs=3,
        verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(schedule)],
    )
    expected = [0.01 * math.exp(-0.3 * epoch) for epoch in range(3)]
    assert history.history["learning_rate"] == pytest.approx(expected, rel=1e-6)
