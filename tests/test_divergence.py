"""A learning rate that makes the head diverge is said and recorded as what it is: which seeds,
from which epoch, their curves null from there in valid JSON, and the study ranks it last
instead of failing on it."""

import json

import keras
import numpy as np
import pytest

from lrstudy.core.config import HeadConfig, SplitConfig, TrainConfig, VerdictsConfig
from lrstudy.core.datasets import split_features, write_features, write_manifests
from lrstudy.core.paths import (
    FEATURES_DIR,
    SPLIT_DIR,
    folds_file,
    model_file,
    repeats_file,
    summary_file,
)
from lrstudy.data.split import fold_splits
from lrstudy.heads.repeats import train_repeats
from lrstudy.reporting.report import repeated_summary
from lrstudy.study.analysis import analyse, rank, study_rows
from tests.helpers.grids import fold_runs, fold_shape

CLASSES = ["a", "b", "c"]
BASELINE = "fixed-lr0.001"


def strict_json(path):
    """A JSON file read as the standard has it: NaN and Infinity are no JSON."""

    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is no JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture
def tiny_features(tmp_path, monkeypatch):
    """data/split and data/features of 60 random images in a temporary working directory."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    paths = [f"{CLASSES[index % 3]}/{index}.png" for index in range(60)]
    splits = {
        "training": [(path, path.split("/")[0]) for path in paths[:40]],
        "validation": [(path, path.split("/")[0]) for path in paths[40:50]],
        "test": [(path, path.split("/")[0]) for path in paths[50:]],
    }
    by_class = {label: [path for path in paths if path.startswith(label)] for label in CLASSES}
    split = SplitConfig(validation=0.15, test=0.15, seed=0, folds=3, training_per_class=None)
    folds = fold_splits(by_class, split)
    for folder in (SPLIT_DIR, FEATURES_DIR):
        folder.mkdir(parents=True)
    write_manifests(SPLIT_DIR, splits, CLASSES, folds)
    features = rng.uniform(0, 6, (60, 1280)).astype(np.float32)  # pooled ReLU6 activations
    write_features(FEATURES_DIR, paths, features, {"backbone": "test", "feature_dim": 1280})


def head(epochs, repeats):
    return HeadConfig(epochs=epochs, batch_size=8, dropout=0.0, seed=42, repeats=repeats)


ADAM = TrainConfig(optimizer="adam", momentum=0.9, weight_decay=0.004)


def test_a_diverging_head_is_named_and_recorded_as_valid_json(tiny_features, capsys):
    train_repeats("train", "scheduled", lambda epoch: 1e38, head(epochs=3, repeats=3), ADAM)
    said = capsys.readouterr().out
    repeats = strict_json(repeats_file("train"))
    assert repeats["diverged"] == [0, 0, 0] and repeats["test_accuracy"] == [None] * 3
    assert (
        "train: warning: seeds 42, 43, 44 (3 of 3) diverged from epoch 1: their loss is no "
        "longer a number, or above 100 times a uniform guess's (null in repeats.json from "
        "there); lower the learning rate"
    ) in said
    assert None in repeats["history"]["loss"][0]
    metrics = strict_json(summary_file("train"))
    assert metrics["diverged_seeds"] == 3
    folds = strict_json(folds_file("train"))  # every fold's heads diverged too: nulls
    assert folds["test_right"] == [None] * 9 and all(None in run for run in folds["val_loss"])
    seeds, figures, diverged = repeated_summary("scheduled")  # what the report's table says
    assert (seeds, diverged) == (3, 3) and figures["final_val_accuracy"]["mean"] is not None


def test_a_loss_that_explodes_but_stays_a_number_is_a_divergence(tiny_features, capsys):
    # Adam at 1e25: finite losses, far past any guess's (ln 3 for these 3 classes).
    train_repeats("train", "scheduled", lambda epoch: 1e25, head(epochs=3, repeats=2), ADAM)
    assert "train: warning: seeds 42, 43 (2 of 2) diverged from epoch" in capsys.readouterr().out
    assert strict_json(summary_file("train"))["diverged_seeds"] == 2
    assert strict_json(folds_file("train"))["test_right"] == [None] * 6


def test_a_head_that_learns_diverges_nowhere(tiny_features, capsys):
    train_repeats("train", "scheduled", lambda epoch: 1e-3, head(epochs=2, repeats=2), ADAM)
    repeats = strict_json(repeats_file("train"))
    assert repeats["diverged"] == [None, None]
    assert strict_json(summary_file("train"))["diverged_seeds"] == 0
    # Each seed's final head scored on the test split; the first seed's is the saved model.
    features, labels = split_features("test")
    saved = keras.saving.load_model(model_file("scheduled"))
    predicted = saved.predict(features, verbose=0).argmax(axis=1)
    assert repeats["test_accuracy"][0] == pytest.approx(float(np.mean(predicted == labels)))
    for value in repeats["test_accuracy"]:  # whole images of the 10
        assert 10 * value == pytest.approx(round(10 * value))
    assert "diverged" not in capsys.readouterr().out


SHAPE = fold_shape(seeds=3, validation=(10, 10), test=(20, 20))


def runs(right, loss=0.2):
    """Fold runs of a variant right on its first `right` test images of 40, with every seed."""
    outcomes = np.zeros((3, 40), bool)
    outcomes[:, :right] = True
    return fold_runs(SHAPE, outcomes, np.full((2, 3, 2), 0.9), np.full((2, 3), loss))


def test_the_study_ranks_a_diverged_variant_last_and_tests_it_against_nothing():
    gone = runs(40)
    gone["test_right"] = [None] * 6
    gone["final_val_loss"] = [None] * 6
    found = {BASELINE: runs(36), "fixed-lr1e+30": gone, "exp-lr0.01-k0.3": runs(37)}
    summaries, tests, design = analyse(SHAPE, found, VerdictsConfig(margin=1.0), BASELINE)
    assert rank(summaries)[-1] == "fixed-lr1e+30"
    assert all("fixed-lr1e+30" not in by_variant for by_variant in tests.values())
    rows = {row["variant"]: row for row in study_rows(summaries, tests, design, SHAPE, BASELINE)}
    assert rows["fixed-lr1e+30"]["outcome"] == rows["fixed-lr1e+30"]["test accuracy"]
    assert rows["fixed-lr1e+30"]["outcome"] == "diverged"
