"""Bad params: refused before any heavy work, naming the key, the bad value and what is allowed."""

import hashlib
import sys

import pytest

from lrstudy.data.split import split_settings
from lrstudy.errors import UserError
from lrstudy.models.backbones import backbone_settings
from lrstudy.params import ParamError, choice, flag, load_params, lookup, number, text
from lrstudy.training.head import training_settings
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT


def test_committed_params_are_valid_and_headline_command_is_meaningful():
    from lrstudy.data.split import split_settings
    from lrstudy.training.schedules import schedule_settings

    params = load_params(REPO_ROOT / "params.yaml")
    # The default runs offline on a fresh clone: the embedded archive, checked, and Lite0.
    assert params["data"]["source"] == "data/caltech101-animals.tar"
    archive = (REPO_ROOT / params["data"]["source"]).read_bytes()
    assert hashlib.sha256(archive).hexdigest() == params["data"]["sha256"]
    assert backbone_settings(params) == ("efficientnet_lite0", "imagenet", 224)
    # `dvc exp run -S schedule.k=0.3` alone must give the reference reports' best: exp, 0.01, k=0.3.
    name, values = schedule_settings(params)
    assert name == "exp" and values["initial_lr"] == 0.01
    assert split_settings(params)[:2] == (0.15, 0.15)
    assert params["train"]["epochs"] == 50 and params["baseline"]["lr"] == 0.001


def test_number_accepts_numeric_strings_and_checks_bounds():
    params = {"a": {"x": "1e-05", "n": 3, "s": "3"}}
    assert number(params, "a.x", above=0) == 1e-05
    assert number(params, "a.n", minimum=1, integer=True) == 3
    assert number(params, "a.s", integer=True) == 3
    with pytest.raises(ParamError, match=r"a\.x = '1e-05' is not allowed; expected a number >= 1"):
        number(params, "a.x", minimum=1)
    with pytest.raises(ParamError, match="an integer"):
        number({"a": {"x": 2.5}}, "a.x", integer=True)


@pytest.mark.parametrize("bad", [None, True, "nan", "inf", [1], "ten"])
def test_number_refuses_non_numbers(bad):
    with pytest.raises(ParamError, match="expected a number"):
        number({"a": {"x": bad}}, "a.x")


def test_missing_keys_and_choices_are_named():
    with pytest.raises(UserError, match=r"params.yaml: model.backbone is missing"):
        lookup({"model": {}}, "model.backbone")
    with pytest.raises(ParamError, match="one of efficientnet_b0, efficientnet_lite0"):
        backbone_settings(
            {"model": {"backbone": "resnet50", "weights": "imagenet", "image_size": 224}}
        )
    with pytest.raises(ParamError, match=r"model.image_size = 16 .* >= 32"):
        backbone_settings(
            {"model": {"backbone": "efficientnet_lite0", "weights": "imagenet", "image_size": 16}}
        )
    with pytest.raises(UserError, match="neither 'imagenet' nor an existing file"):
        backbone_settings(
            {"model": {"backbone": "efficientnet_b0", "weights": "/no/such.h5", "image_size": 224}}
        )
    with pytest.raises(ParamError, match="non-empty string"):
        text({"data": {"source": ""}}, "data.source")
    assert choice({"a": {"b": "x"}}, "a.b", ("x", "y")) == "x"


def test_flags_must_be_booleans():
    assert flag({"finetune": {"augment": False}}, "finetune.augment") is False
    with pytest.raises(
        ParamError, match=r"finetune.augment = 'no' is not allowed; expected true or false"
    ):
        flag({"finetune": {"augment": "no"}}, "finetune.augment")


def test_unreadable_params_files_are_named(tmp_path):
    (tmp_path / "params.yaml").write_text("schedule: {k: 0.3\n")
    with pytest.raises(UserError, match="params.yaml is not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list\n")
    with pytest.raises(UserError, match="must map groups"):
        load_params(tmp_path / "params.yaml")
    with pytest.raises(UserError, match="no .*missing.yaml here"):
        load_params(tmp_path / "missing.yaml")


# Each stage runs in a project with no data at all: it can only fail on its params, before
# reading any image, feature or model. A second or more each, so slow.
@pytest.mark.slow
@pytest.mark.parametrize(
    "stage, overrides, expected",
    [
        (
            "train",
            {"schedule.name": "cosine_restarts"},
            "schedule.name = 'cosine_restarts' is not allowed; "
            "expected one of fixed, exp, step, cosine, onecycle",
        ),
        (
            "train",
            {"schedule.initial_lr": 0},
            "schedule.initial_lr = 0 is not allowed; expected a number > 0",
        ),
        (
            "train",
            {"schedule.initial_lr": -0.1},
            "schedule.initial_lr = -0.1 is not allowed; expected a number > 0",
        ),
        ("train", {"schedule.k": -0.3}, "schedule.k = -0.3 is not allowed; expected a number >= 0"),
        (
            "train",
            {"schedule.k": "fast"},
            "schedule.k = 'fast' is not allowed; expected a number >= 0",
        ),
        (
            "train",
            {"schedule.name": "step", "schedule.epochs_drop": 0},
            "schedule.epochs_drop = 0 is not allowed; expected a number > 0",
        ),
        (
            "train",
            {"schedule.name": "step", "schedule.drop": 1.5},
            "schedule.drop = 1.5 is not allowed; expected a number > 0 <= 1",
        ),
        (
            "train",
            {"schedule.name": "step", "schedule.drop": 0},
            "schedule.drop = 0 is not allowed; expected a number > 0 <= 1",
        ),
        (
            "train",
            {"train.epochs": "ten"},
            "train.epochs = 'ten' is not allowed; expected an integer >= 1",
        ),
        (
            "baseline",
            {"train.repeats": 0},
            "train.repeats = 0 is not allowed; expected an integer >= 1 <= 100",
        ),
        ("baseline", {"baseline.lr": 0}, "baseline.lr = 0 is not allowed; expected a number > 0"),
        (
            "split",
            {"split.val": 0.6, "split.test": 0.5},
            "split.val + split.test = 1.1 is not allowed; expected < 1, so that train keeps images",
        ),
        (
            "features",
            {"model.backbone": "resnet50"},
            "model.backbone = 'resnet50' is not allowed; "
            "expected one of efficientnet_b0, efficientnet_lite0",
        ),
        (
            "features",
            {"model.image_size": 16},
            "model.image_size = 16 is not allowed; expected an integer >= 32",
        ),
        (
            "finetune",
            {"finetune.lr": -1e-05},
            "finetune.lr = -1e-05 is not allowed; expected a number > 0",
        ),
        (
            "finetune",
            {"finetune.augment": "yes"},
            "finetune.augment = 'yes' is not allowed; expected true or false",
        ),
        (
            "lr_range",
            {"lr_range.max_lr": 1e-08},
            "lr_range.max_lr = 1e-08 is not allowed; expected a number > 1e-07",
        ),
    ],
)
def test_stages_refuse_bad_params_in_one_line_before_any_work(project, stage, overrides, expected):
    root = project(overrides)
    result = run([sys.executable, "-m", f"stages.{stage}"], root, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: params.yaml: {expected}"
    assert "Traceback" not in result.stderr
    assert [path.name for path in (root / "data").iterdir()] == ["caltech101-animals.tar"]
    assert not (root / "metrics").exists()


def test_seeds_stay_within_32_bits_for_every_repeat():
    params = {"train": {"epochs": 1, "batch_size": 8, "dropout": 0, "repeats": 10}}
    params["train"]["seed"] = 2**32 - 10  # seeds ..., 2**32 - 1: the last one NumPy takes
    assert training_settings(params)["seed"] == 2**32 - 10
    params["train"]["seed"] = 2**32 - 5
    with pytest.raises(ParamError, match=r"train.seed = 4294967291 .* <= 4294967286"):
        training_settings(params)
    with pytest.raises(ParamError, match=r"split.seed = 4294967296 .* <= 4294967295"):
        split_settings({"split": {"val": 0.15, "test": 0.15, "seed": 2**32}})
