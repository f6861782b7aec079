import json

import keras
import numpy as np
import pytest
from PIL import Image

from lrstudy.backbone.build import block_names, unfreeze_top
from lrstudy.core.config import BACKBONES, ParamError
from lrstudy.core.outputs import previous_path, remove_output
from lrstudy.finetuning import EpochCheckpoint, check_batch_splits_evenly, load_checkpoint
from lrstudy.reporting.evaluate import (
    evaluation_scores,
    per_class_rows,
    plot_confusion_matrix,
    worst_mistakes,
)
from tests.helpers.models import backbone_at


@pytest.fixture(scope="module")
def lite0():
    return backbone_at(64)


def trainable_layers(backbone):
    return [layer.name for layer in backbone.layers if layer.trainable and layer.weights]


LITE0 = BACKBONES["efficientnet_lite0"]


def test_block_names_follow_the_stage_table(lite0):
    assert block_names(lite0, LITE0) == [f"blocks_{i}" for i in range(16)]


def test_unfreeze_top_opens_the_last_blocks_and_keeps_batchnorm_frozen(lite0):
    assert unfreeze_top(lite0, 2, LITE0) == ["blocks_14", "blocks_15"]
    assert trainable_layers(lite0) == [
        "blocks_14_expand_conv",
        "blocks_14_depthwise_conv",
        "blocks_14_project_conv",
        "blocks_15_expand_conv",
        "blocks_15_depthwise_conv",
        "blocks_15_project_conv",
        "conv_head",
    ]
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
        for layer in lite0.layers
    )
    assert unfreeze_top(lite0, 0, LITE0) == [] and trainable_layers(lite0) == ["conv_head"]


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def test_checkpoint_keeps_weights_optimizer_and_history(tmp_path):
    model = tiny_model()
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.arange(8) % 2
    checkpoint = EpochCheckpoint(tmp_path / "ckpt", "params-a")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[checkpoint])

    restored, history, seconds = load_checkpoint(tmp_path / "ckpt", "params-a")
    assert len(history) == 2 and set(history[0]) == {"accuracy", "loss"} and seconds > 0
    np.testing.assert_array_equal(restored.get_weights()[0], model.get_weights()[0])
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 2
    assert load_checkpoint(tmp_path / "ckpt", "params-b") is None  # other params: start over

    # A kill between the two renames leaves only the previous checkpoint aside: it is found.
    (tmp_path / "ckpt").rename(previous_path(tmp_path / "ckpt"))
    assert load_checkpoint(tmp_path / "ckpt", "params-a") is not None
    remove_output(tmp_path / "ckpt")
    assert list(tmp_path.iterdir()) == []


def test_scores_per_class_and_worst_mistakes():
    probabilities = np.array(
        [[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.05, 0.95, 0.0]]
    )
    labels = np.array([0, 1, 1, 2, 0])
    scores = evaluation_scores(probabilities, labels)
    assert scores["test_accuracy"] == 0.6
    assert scores["test_loss"] == pytest.approx(
        -np.mean(np.log([0.9, 0.7, 0.3, 0.8, 0.05])), rel=1e-5
    )
    assert list(worst_mistakes(probabilities, labels, 5)) == [4, 2]  # 95 % wrong before 60 % wrong
    rows = per_class_rows(labels, np.argmax(probabilities, axis=1), ["a", "b", "c"])
    assert rows[0] == {"class": "a", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert rows[2] == {"class": "c", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


@pytest.mark.parametrize("damage", ["state cut short", "model halved", "a key missing"])
def test_a_damaged_checkpoint_is_named_and_fine_tuning_starts_over(tmp_path, capsys, damage):
    model = tiny_model()
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.arange(8) % 2
    model.fit(x, y, epochs=1, verbose=0, callbacks=[EpochCheckpoint(tmp_path / "ckpt", "a")])
    state, saved = tmp_path / "ckpt" / "state.json", tmp_path / "ckpt" / "model.keras"
    if damage == "state cut short":
        state.write_text(state.read_text()[:20])
    elif damage == "model halved":
        saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    else:
        state.write_text(json.dumps({"fingerprint": "a", "seconds": 1.0}))
    assert load_checkpoint(tmp_path / "ckpt", "a") is None
    said = capsys.readouterr().out
    assert said.startswith(f"finetune: warning: the checkpoint in {tmp_path / 'ckpt'} is damaged")
    assert said.rstrip().endswith("starting over")


@pytest.mark.parametrize("classes", [24, 60, 1000])
def test_the_confusion_matrix_figure_stays_bounded_whatever_the_classes(tmp_path, classes):
    labels = np.arange(5 * classes) % classes
    predicted = (labels + (labels % 7 == 0)) % classes
    plot_confusion_matrix(
        labels, predicted, [f"class {i}" for i in range(classes)], tmp_path / "m.png"
    )
    with Image.open(tmp_path / "m.png") as image:
        assert max(image.size) <= 2000  # pixels: the figure's size is capped


def test_the_fine_tuning_batch_must_split_evenly_between_the_replicas():
    check_batch_splits_evenly(32, 4)  # 8 images on each GPU
    with pytest.raises(ParamError) as error:
        check_batch_splits_evenly(30, 4)
    assert str(error.value) == (
        "params.yaml: finetune.batch_size = 30 is not allowed; "
        "expected a multiple of the 4 replicas"
    )
