import math

import keras
import numpy as np
import pytest
import yaml

from lrstudy.params import ParamError
from lrstudy.training.schedules import (
    SCHEDULES,
    cosine,
    exponential,
    fixed,
    ignored_params,
    make_schedule,
    markdown_table,
    onecycle,
    schedule_settings,
    step,
    variant_name,
)
from tests.helpers.sandbox import REPO_ROOT

E = 50  # train.epochs


def schedule_params(**values):
    base = {
        "name": "exp",
        "initial_lr": 0.01,
        "k": 0.1,
        "drop": 0.5,
        "epochs_drop": 10,
        "warmup_epochs": 5,
        "min_lr": 0.0,
        "pct_start": 0.3,
        "div_factor": 25,
        "final_div_factor": 10000,
    }
    return {"schedule": {**base, **values}, "train": {"epochs": E}}


def test_fixed_is_constant():
    assert [fixed(epoch, E, 0.001) for epoch in (0, 1, 49)] == [0.001, 0.001, 0.001]


def test_exponential_matches_hand_computed_values():
    # 0.01 * e^-3 = 0.01 * 0.0497870684 (the reference reports' best setting, epoch 10)
    assert exponential(0, E, 0.01, 0.3) == 0.01
    assert exponential(10, E, 0.01, 0.3) == pytest.approx(0.000497870684, rel=1e-9)
    assert exponential(1, E, 0.1, 0.1) == pytest.approx(0.0904837418, rel=1e-9)


def test_cosine_warms_up_linearly_then_decays_along_half_a_cosine():
    # E = 10, warmup 2, 0.1 down to 0.001: 0.1 / 2, 0.1, then 0.001 + 0.099 * (1 + cos(pi f)) / 2
    # with f = (e - 2) / 8: e = 6 -> f = 0.5 -> 0.0505; e = 9 -> cos(7 pi / 8) = -0.9238795.
    lrs = [cosine(epoch, 10, 0.1, 2, 0.001) for epoch in (0, 1, 2, 6, 9)]
    assert lrs == pytest.approx([0.05, 0.1, 0.1, 0.0505, 0.0047679631], rel=1e-8)
    # Without warmup it starts at the peak: cos(pi / 4) = 0.7071068, cos(3 pi / 4) = -0.7071068.
    lrs = [cosine(epoch, 4, 1.0, 0, 0.0) for epoch in range(4)]
    assert lrs == pytest.approx([1.0, 0.8535534, 0.5, 0.1464466], rel=1e-7)


def test_onecycle_follows_pytorchs_two_phase_cosine_policy():
    # E = 10, peak 0.1, pct_start 0.3: up from 0.1 / 25 = 0.004 to 0.1 at epoch 0.3 * 10 - 1 = 2,
    # then down to 0.004 / 10000 = 4e-7 at epoch 9; epoch 1 is halfway up: (0.004 + 0.1) / 2,
    # epoch 5 is 3/7 of the way down: 4e-7 + 0.0999996 * (1 + cos(3 pi / 7)) / 2, cos = 0.2225209.
    lrs = [onecycle(epoch, 10, 0.1, 0.3, 25, 1e4) for epoch in (0, 1, 2, 5, 9)]
    assert lrs == pytest.approx([0.004, 0.052, 0.1, 0.0611262, 4e-7], rel=1e-6)


def test_step_keeps_the_seeds_one_plus_epoch_off_by_one():
    # epochs_drop=10: epochs 0..8 at initial_lr, the first halving at epoch 9, the next at 19.
    lrs = [step(epoch, E, 0.1, 0.5, 10) for epoch in range(21)]
    assert lrs[:9] == [0.1] * 9
    assert lrs[9:19] == [0.05] * 10
    assert lrs[19:] == [0.025, 0.025]
    # epochs_drop=3: floor((1 + 2) / 3) = 1 already at epoch 2.
    assert [step(epoch, E, 0.01, 0.5, 3) for epoch in range(6)] == [
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
    assert schedule_settings(schedule_params(name="cosine")) == (
        "cosine",
        {"initial_lr": 0.01, "warmup_epochs": 5, "min_lr": 0.0},
    )
    assert ignored_params(schedule_params(name="step")) == [
        "div_factor",
        "final_div_factor",
        "k",
        "min_lr",
        "pct_start",
        "warmup_epochs",
    ]


@pytest.mark.parametrize(
    "values, key",
    [
        ({"name": "cosine_restarts"}, "schedule.name"),
        ({"name": "cosine", "warmup_epochs": 2.5}, "schedule.warmup_epochs"),
        ({"name": "cosine", "warmup_epochs": E}, "schedule.warmup_epochs"),
        ({"name": "cosine", "min_lr": -1e-05}, "schedule.min_lr"),
        ({"name": "onecycle", "pct_start": 0}, "schedule.pct_start"),
        ({"name": "onecycle", "div_factor": 0.5}, "schedule.div_factor"),
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
    schedule = make_schedule("exp", {"initial_lr": 0.01, "k": 0.3}, 3)
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


def test_every_schedule_has_params_in_params_yaml_and_a_row_in_the_readme():
    committed = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    for name, schedule in SCHEDULES.items():
        params = {**committed, "schedule": {**committed["schedule"], "name": name}}
        assert schedule_settings(params)[0] == name  # `dvc exp run -S schedule.name=NAME` works
        assert {param.key for param in schedule.params} <= set(committed["schedule"])
    assert markdown_table() in (REPO_ROOT / "docs" / "pipeline.md").read_text()


def test_variant_names_use_each_params_short_name():
    assert variant_name("cosine", {"initial_lr": 0.01, "warmup_epochs": 5, "min_lr": 0.0}) == (
        "cosine-lr0.01-warmup5-min0"
    )
