import pytest

from stages.errors import UserError
from stages.params import ParamError, choice, load_params, lookup, number, text
from stages.backbones import backbone_settings
from tests.conftest import REPO_ROOT


def test_committed_params_are_valid_and_headline_command_is_meaningful():
    from stages.schedules import schedule_settings
    from stages.split import split_settings

    params = load_params(REPO_ROOT / "params.yaml")
    assert backbone_settings(params) == ("efficientnet_b0", "imagenet", 224)
    # `dvc exp run -S schedule.k=0.3` alone must give the seeds' best: exp, 0.01, k=0.3.
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
        backbone_settings({"model": {"backbone": "resnet50", "weights": "imagenet", "image_size": 224}})
    with pytest.raises(ParamError, match=r"model.image_size = 16 .* >= 32"):
        backbone_settings({"model": {"backbone": "efficientnet_lite0", "weights": "imagenet", "image_size": 16}})
    with pytest.raises(UserError, match="neither 'imagenet' nor an existing file"):
        backbone_settings({"model": {"backbone": "efficientnet_b0", "weights": "/no/such.h5", "image_size": 224}})
    with pytest.raises(ParamError, match="non-empty string"):
        text({"data": {"source": ""}}, "data.source")
    assert choice({"a": {"b": "x"}}, "a.b", ("x", "y")) == "x"
