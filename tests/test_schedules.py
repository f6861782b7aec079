import math

import keras
import numpy as np
import pytest

from lrstudy.core.config import ParamError, parse_schedule
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import (
    PARAMS,
    SCHEDULES,
    cosine,
    exponential,
    fixed,
    markdown_table,
    mean_learning_rate,
    onecycle,
    step,
    variant_name,
)
from tests.helpers.sandbox import REPO_ROOT, committed_params

E = 50  # head.epochs


def schedule(**values):
    """The committed schedule.* with `values` changed, parsed for a run of E epochs."""
    return parse_schedule({**committed_params()["schedule"], **values}, E)


def test_fixed_is_constant():
    assert [fixed(epoch, E, 0.001) for epoch in (0, 1, 49)] == [0.001, 0.001, 0.001]


def test_exponential_matches_hand_computed_values():
    # 0.01 * e^-3 = 0.01 * 0.0497870684 (the reference reports' best setting, epoch 10)
    assert exponential(0, E, 0.01, 0.3) == 0.01
    assert exponential(10, E, 0.01, 0.3) == pytest.approx(0.000497870684, rel=1e-9)
    assert exponential(1, E, 0.1, 0.1) == pytest.approx(0.0904837418, rel=1e-9)


def test_the_mean_rate_is_what_the_schedule_gives_on_average_over_the_run():
    assert mean_learning_rate("fixed", {"initial_lr": 0.001}, E) == pytest.approx(0.001)
    # exp: a geometric series, 0.01 * (1 - e^(-0.3 * 50)) / (1 - e^-0.3) / 50
    expected = 0.01 * (1 - math.exp(-15)) / (1 - math.exp(-0.3)) / E
    assert mean_learning_rate("exp", {"initial_lr": 0.01, "k": 0.3}, E) == pytest.approx(expected)
    # step halving every 10 epochs (epochs 9, 19, ... start each drop): 9, 10, 10, 10, 10, 1
    halves = (9 * 1 + 10 * 0.5 + 10 * 0.25 + 10 * 0.125 + 10 * 0.0625 + 0.03125) / E
    step_values = {"initial_lr": 0.1, "drop": 0.5, "epochs_drop": 10}
    assert mean_learning_rate("step", step_values, E) == pytest.approx(0.1 * halves)


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
    parsed = schedule(initial_lr="1e-05", k="0.3")
    assert (parsed.name, dict(parsed.values)) == ("exp", {"initial_lr": 1e-05, "k": 0.3})


def test_settings_keep_only_what_the_schedule_uses_in_the_registrys_order():
    step_schedule = schedule(name="step")
    assert list(step_schedule.values.items()) == [
        ("initial_lr", 0.01),
        ("drop", 0.5),
        ("epochs_drop", 10.0),
    ]
    assert dict(schedule(name="cosine").values) == {
        "initial_lr": 0.01,
        "warmup_epochs": 5,
        "min_lr": 0.0,
    }
    assert step_schedule.describe() == "step: initial_lr 0.01, drop 0.5, epochs_drop 10"
    assert step_schedule.variant_name() == "step-lr0.01-drop0.5-every10"
    assert [step_schedule.rate(epoch, E) for epoch in (0, 9)] == [0.01, 0.005]


def test_keys_the_chosen_schedule_ignores_stay_allowed_but_are_checked():
    assert schedule(name="fixed", k=0.7).name == "fixed"
    with pytest.raises(ParamError, match=r"schedule.k = -1 is not allowed"):
        schedule(name="fixed", k=-1)


def test_unknown_keys_are_refused_with_the_nearest_known_one():
    with pytest.raises(UserError) as error:
        parse_schedule({**committed_params()["schedule"], "kk": 0.3}, E)
    assert str(error.value) == "params.yaml: schedule.kk: unknown key; did you mean schedule.k?"
    with pytest.raises(UserError, match=r"schedule.zzz: unknown key; expected one of schedule.na"):
        parse_schedule({"name": "fixed", "initial_lr": 0.1, "zzz": 1}, E)


def test_a_key_the_chosen_schedule_needs_must_be_there():
    with pytest.raises(UserError, match=r"schedule.k is missing \(schedule exp uses it\)"):
        parse_schedule({"name": "exp", "initial_lr": 0.1}, E)


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
        schedule(**values)
    message = str(error.value)
    assert key in message and "expected" in message
    assert repr(next(iter(v for k, v in values.items() if f"schedule.{k}" == key))) in message


def test_keras_applies_the_schedule_each_epoch():
    exp = parse_schedule({"name": "exp", "initial_lr": 0.01, "k": 0.3}, 3)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    history = model.fit(
        np.zeros((4, 2)),
        np.zeros(4),
        epochs=3,
        verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: exp.rate(epoch, 3))],
    )
    expected = [0.01 * math.exp(-0.3 * epoch) for epoch in range(3)]
    assert history.history["learning_rate"] == pytest.approx(expected, rel=1e-6)


def test_every_schedule_has_params_in_params_yaml_and_a_row_in_the_docs():
    committed = committed_params()["schedule"]
    for name, entry in SCHEDULES.items():
        assert schedule(name=name).name == name  # `dvc exp run -S schedule.name=NAME` works
        assert set(entry.params) <= set(committed) and set(entry.params) <= set(PARAMS)
    assert set(committed) == {"name", *PARAMS}
    assert markdown_table() in (REPO_ROOT / "docs" / "pipeline.md").read_text()


def test_variant_names_use_each_params_short_name():
    assert variant_name("cosine", {"initial_lr": 0.01, "warmup_epochs": 5, "min_lr": 0.0}) == (
        "cosine-lr0.01-warmup5-min0"
    )
