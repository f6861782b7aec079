"""params.yaml, checked once and up front (lrstudy/core/config.py): every bad value, unknown key
or missing one ends a stage in one `error:` line naming it, before TensorFlow is imported and
before any input is read."""

import hashlib
import json
import shutil
import sys
import time

import pytest

from lrstudy.core.config import (
    BACKBONES,
    ParamError,
    load_config,
    parse_config,
    parse_group,
    read_number,
)
from lrstudy.core.errors import UserError
from lrstudy.core.schedules import SCHEDULES
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT, committed_params, set_params


def test_committed_params_are_valid_and_headline_command_is_meaningful():
    config = load_config(REPO_ROOT / "params.yaml")
    # The default runs offline on a fresh clone: the embedded archive, checked, and Lite0.
    assert config.data.source == "data/caltech101-animals.tar"
    archive = (REPO_ROOT / config.data.source).read_bytes()
    assert hashlib.sha256(archive).hexdigest() == config.data.sha256
    assert (config.backbone.name, config.backbone.weights) == ("efficientnet_lite0", "imagenet")
    assert config.backbone.image_size == 224
    # `dvc exp run -S schedule.k=0.3` alone must give the reference reports' best: exp, 0.01, k=0.3.
    assert (config.schedule.name, config.schedule.values["initial_lr"]) == ("exp", 0.01)
    assert (config.split.validation, config.split.test) == (0.15, 0.15)
    assert (config.head.epochs, config.baseline.lr) == (50, 0.001)
    assert config.head.seeds == list(range(42, 52))
    # The reports' optimizer, and fine-tuning at one fixed rate, by default.
    assert (config.train.optimizer, config.train.values) == ("adam", {})
    assert config.finetune.schedule.as_params() == {"name": "fixed", "initial_lr": 1e-05}


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("epochs", [1, 2, 10])
def test_every_fine_tuning_schedule_is_valid_at_any_length_with_the_committed_values(name, epochs):
    config = parse_config(
        committed_params({"finetune.schedule.name": name, "finetune.epochs": epochs})
    )
    rates = [config.finetune.rate(epoch) for epoch in range(epochs)]
    assert all(0 < rate <= config.finetune.schedule.values["initial_lr"] for rate in rates)


def test_numbers_accept_numeric_strings_and_check_bounds():
    assert read_number("a.x", "1e-05", above=0) == 1e-05
    assert read_number("a.n", 3, minimum=1, integer=True) == 3
    assert read_number("a.s", "3", integer=True) == 3
    with pytest.raises(ParamError, match=r"a\.x = '1e-05' is not allowed; expected a number >= 1"):
        read_number("a.x", "1e-05", minimum=1)
    with pytest.raises(ParamError, match="an integer"):
        read_number("a.x", 2.5, integer=True)


@pytest.mark.parametrize("bad", [None, True, "nan", "inf", [1], "ten", 10**400, "1e400"])
def test_numbers_refuse_non_numbers_and_overflowing_ones(bad):
    with pytest.raises(ParamError, match="expected a number"):
        read_number("a.x", bad)


def config_with(**overrides):
    return parse_config(
        committed_params({key.replace("__", "."): v for key, v in overrides.items()})
    )


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"backbone__name": "resnet50"},
            "backbone.name = 'resnet50' is not allowed; expected one "
            "of efficientnet_b0, efficientnet_lite0",
        ),
        (
            {"backbone__image_size": 16},
            "backbone.image_size = 16 is not allowed; expected an integer >= 32 <= 1024",
        ),
        ({"backbone__image_size": 20000}, "backbone.image_size = 20000 is not allowed"),
        (
            {"backbone__runtime": "tpu"},
            "backbone.runtime = 'tpu' is not allowed; expected one of auto, litert, keras",
        ),
        (
            {"head__epochs": "ten"},
            "head.epochs = 'ten' is not allowed; expected an integer >= 1 <= 10000",
        ),
        ({"head__repeats": 0}, "head.repeats = 0 is not allowed; expected an integer >= 1 <= 100"),
        ({"baseline__lr": 0}, "baseline.lr = 0 is not allowed; expected a number > 0"),
        (
            {"finetune__augment": "yes"},
            "finetune.augment = 'yes' is not allowed; expected true or false",
        ),
        (
            {"finetune__unfreeze_blocks": 17},
            "finetune.unfreeze_blocks = 17 is not allowed; "
            "expected an integer >= 0 <= 16 (the blocks of efficientnet_lite0)",
        ),
        (
            {"lr_range__max_lr": 1e-08},
            "lr_range.max_lr = 1e-08 is not allowed; expected a number > 1e-07",
        ),
        ({"lr_range__steps": 10**7}, "lr_range.steps = 10000000 is not allowed"),
        ({"data__source": ""}, "data.source = '' is not allowed; expected a non-empty string"),
        (
            {"split__validation": 0.6, "split__test": 0.5},
            "split.validation + split.test = 1.1 is "
            "not allowed; expected < 1, so that the training split keeps images",
        ),
        (
            {"schedule__name": "cosine", "schedule__warmup_epochs": 50},
            "schedule.warmup_epochs = 50 is not allowed; expected < head.epochs (50)",
        ),
        ({"verdicts__margin": 0}, "verdicts.margin = 0 is not allowed; expected a number > 0"),
        (  # floor((1 + e) / epochs_drop) would overflow
            {"schedule__name": "step", "schedule__epochs_drop": 1e-320},
            "schedule.epochs_drop = 1e-320 is not allowed; expected a number >= 1",
        ),
    ],
)
def test_bad_values_are_refused_naming_key_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ParamError) as error:
        config_with(**overrides)
    assert str(error.value).startswith(f"params.yaml: {message}")


def test_seeds_stay_within_32_bits_for_every_repeat():
    # seeds ..., 2**32 - 1: the last one NumPy takes
    assert config_with(head__seed=2**32 - 10).head.seeds[-1] == 2**32 - 1
    with pytest.raises(
        ParamError,
        match=r"^params.yaml: head.seed = 4294967291 is not allowed; expected <= 4294967286$",
    ):
        config_with(head__seed=2**32 - 5)
    with pytest.raises(ParamError, match=r"split.seed = 4294967296 .* <= 4294967295"):
        config_with(split__seed=2**32)


def test_unknown_and_missing_keys_and_groups_are_named():
    params = committed_params()
    params["head"]["epoch"] = params["head"].pop("epochs")
    with pytest.raises(UserError, match=r"^params.yaml: head.epoch: unknown key; did you mean "):
        parse_config(params)
    params = committed_params()
    del params["finetune"]["seed"]
    with pytest.raises(UserError, match=r"^params.yaml: finetune.seed is missing$"):
        parse_config(params)
    params = committed_params()
    params["bakbone"] = params.pop("backbone")
    with pytest.raises(
        UserError, match=r"^params.yaml: bakbone: unknown group; did you mean backbone\?$"
    ):
        parse_config(params)
    with pytest.raises(UserError, match=r"^params.yaml: head must map keys to values, not 3$"):
        parse_group("head", 3)


def test_every_backbone_bounds_fine_tuning_by_its_blocks():
    for name, spec in BACKBONES.items():
        config = config_with(backbone__name=name, finetune__unfreeze_blocks=spec.block_count)
        assert config.finetune.unfreeze_blocks == spec.block_count


def test_a_weights_file_is_checked_where_a_backbone_is_built(tmp_path):
    config = config_with(backbone__weights=str(tmp_path / "missing.h5"))
    with pytest.raises(UserError, match="is neither 'imagenet' nor an existing file"):
        config.backbone.check_weights_file()
    (tmp_path / "present.h5").write_bytes(b"")
    config_with(backbone__weights=str(tmp_path / "present.h5")).backbone.check_weights_file()


# Seven levels of nine aliases each: 9**7 (4.8 million) lists once expanded.
ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join([f'*{chr(97 + level)}'] * 9)}]\n"
    for level in range(7)
)


@pytest.mark.parametrize(
    "data, line",
    [
        (ALIAS_BOMB.encode(), "line 2: an alias (*name) is not read here; write the value"),
        (b"head: {epochs: 3}\nsplit: {}\nhead: {epochs: 5}\n", "line 3: 'head' written twice"),
        (b"head: {epochs: 3, epochs: 5}\n", "line 1: 'epochs' written twice"),
    ],
)
def test_params_files_that_yaml_would_misread_are_one_line(tmp_path, data, line):
    (tmp_path / "params.yaml").write_bytes(data)
    started = time.monotonic()
    with pytest.raises(UserError) as error:
        load_config(tmp_path / "params.yaml")
    assert str(error.value) == f"{tmp_path}/params.yaml is not valid YAML: {line}"
    assert time.monotonic() - started < 1


def test_a_params_file_in_another_encoding_is_one_line(tmp_path):
    (tmp_path / "params.yaml").write_bytes(b"data: {source: caf\xe9}\n")  # Latin-1
    with pytest.raises(UserError) as error:
        load_config(tmp_path / "params.yaml")
    assert str(error.value) == f"{tmp_path}/params.yaml is not UTF-8 text (byte 18)"


def test_unreadable_params_files_are_named(tmp_path):
    (tmp_path / "params.yaml").write_text("schedule: {k: 0.3\n")
    with pytest.raises(UserError, match="/params.yaml is not valid YAML: line 2: expected ','"):
        load_config(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list\n")
    with pytest.raises(UserError, match="the file must map keys to values"):
        load_config(tmp_path / "params.yaml")
    with pytest.raises(UserError, match="no .*missing.yaml here"):
        load_config(tmp_path / "missing.yaml")


# Where a stage reads it: in a folder that holds nothing but params.yaml, each stage can only
# fail on it, and must before TensorFlow is imported. The check runs in the stage's process: at
# exit it prints whether `tensorflow` was ever imported.
IMPORTED_TENSORFLOW = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print(json.dumps('tensorflow' in sys.modules), file=sys.__stdout__)); "
    "runpy.run_module('stages.{stage}', run_name='__main__')"
)


@pytest.mark.parametrize(
    "stage, overrides, line",
    [
        (
            "train",
            {"schedule.name": "cosin"},
            "schedule.name = 'cosin' is not allowed; expected "
            "one of fixed, exp, step, cosine, onecycle",
        ),
        (
            "train",
            {"schedule.k": "fast"},
            "schedule.k = 'fast' is not allowed; expected a number >= 0",
        ),
        (
            "features",
            {"backbone.image_size": 16},
            "backbone.image_size = 16 is not allowed; expected an integer >= 32 <= 1024",
        ),
        (
            "finetune",
            {"finetune.schedule.initial_lr": -1e-05},
            "finetune.schedule.initial_lr = -1e-05 is not allowed; expected a number > 0",
        ),
        (
            "finetune",
            {"finetune.schedule.name": "cosine", "finetune.schedule.warmup_epochs": 10},
            "finetune.schedule.warmup_epochs = 10 is not allowed; expected < finetune.epochs (10)",
        ),
        (
            "train",
            {"train.optimizer": "rmsprop2"},
            "train.optimizer = 'rmsprop2' is not allowed; expected "
            "one of adam, sgd, adamw, schedulefree_adamw",
        ),
        (
            "baseline",
            {"train.momentum": 1.5},
            "train.momentum = 1.5 is not allowed; expected a number >= 0 <= 0.999",
        ),
        ("fetch", {"data.max_gb": 0}, "data.max_gb = 0 is not allowed; expected a number > 0"),
    ],
)
def test_stages_refuse_bad_params_in_one_line_before_tensorflow_loads(
    tmp_path, stage, overrides, line
):
    shutil.copyfile(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    set_params(tmp_path / "params.yaml", overrides)
    assert_refused_before_tensorflow(tmp_path, stage, f"error: params.yaml: {line}")


def test_an_unknown_key_typed_into_params_yaml_is_refused_with_the_nearest_one(tmp_path):
    text = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
    (tmp_path / "params.yaml").write_text(text.replace("  k: 0.1 ", "  kk: 0.3"), encoding="utf-8")
    assert_refused_before_tensorflow(
        tmp_path, "train", "error: params.yaml: schedule.kk: unknown key; did you mean schedule.k?"
    )


def assert_refused_before_tensorflow(folder, stage, line):
    code = "import json; " + IMPORTED_TENSORFLOW.format(stage=stage)
    result = run([sys.executable, "-c", code], folder, check=False, PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [line]
    assert json.loads(result.stdout) is False  # TensorFlow never imported
    assert sorted(path.name for path in folder.iterdir()) == ["params.yaml"]
