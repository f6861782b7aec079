import numpy as np
import pytest

from lrstudy.errors import UserError
from lrstudy.lr_range import smooth, suggest_lr
from lrstudy.params import ParamError
from lrstudy.schedules import variant_name
from lrstudy.study import load_grid, pick_best, set_params
from tests.conftest import REPO_ROOT


def test_seed_grids_have_the_seeds_variants():
    seed003 = load_grid("seed003", 50, REPO_ROOT / "study.yaml")
    assert len(seed003) == 18
    names = [name for name, _, _ in seed003]
    assert names[:4] == ["fixed-lr0.1", "fixed-lr0.01", "fixed-lr0.001", "fixed-lr0.0001"]
    assert "exp-lr0.01-k0.3" in names and "step-lr0.1-drop0.5-every10" in names
    assert len(set(names)) == 18
    seed000 = load_grid("seed000", 50, REPO_ROOT / "study.yaml")
    assert [name for name, _, _ in seed000] == [
        "fixed-lr1e-08",
        "fixed-lr1e-09",
        "fixed-lr1e-10",
        "exp-lr1e-08-k0.3",
        "exp-lr1e-08-k0.5",
        "exp-lr1e-08-k0.7",
        "exp-lr1e-08-k0.9",
    ]


def test_variant_names_and_dvc_arguments():
    assert (
        variant_name("step", {"initial_lr": 0.01, "drop": 0.5, "epochs_drop": 3.0})
        == "step-lr0.01-drop0.5-every3"
    )
    assert set_params("exp", {"initial_lr": 0.01, "k": 0.3}) == [
        "-S",
        "schedule.name=exp",
        "-S",
        "schedule.initial_lr=0.01",
        "-S",
        "schedule.k=0.3",
    ]


def test_grids_are_checked_like_params(tmp_path):
    grids = tmp_path / "study.yaml"
    grids.write_text("bad:\n  exp:\n    - {initial_lr: 0.01, k: -1}\n")
    with pytest.raises(ParamError, match="schedule.k = -1"):
        load_grid("bad", 50, grids)
    with pytest.raises(UserError, match="no grid 'missing'; it has bad"):
        load_grid("missing", 50, grids)


def test_best_is_highest_accuracy_then_lowest_loss():
    rows = [
        {"variant": "a", "final val accuracy": 0.88, "final val loss": 0.30},
        {"variant": "b", "final val accuracy": 0.89, "final val loss": 0.40},
        {"variant": "c", "final val accuracy": 0.89, "final val loss": 0.26},
    ]
    assert pick_best(rows)["variant"] == "c"


def test_lr_range_suggestion_is_where_the_loss_falls_fastest():
    lrs = np.geomspace(1e-6, 1, 121)
    # A loss that is flat, then falls steepest around 1e-3, then blows up past 1e-1.
    losses = (
        2.0
        - 1.5 / (1 + np.exp(-3 * (np.log10(lrs) + 3)))
        + np.where(lrs > 0.1, (lrs - 0.1) * 50, 0)
    )
    suggested, minimum = suggest_lr(lrs, losses)
    assert 3e-4 < suggested < 3e-3
    assert 1e-2 < minimum <= 0.2
    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # bias-corrected
