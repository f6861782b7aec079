"""LiteRT against Keras on real photos: the frozen forward pass, its cache, fine-tuning's split."""

import numpy as np
import pytest
import tensorflow as tf

from lrstudy.backbone import litert
from lrstudy.backbone.build import (
    FROZEN,
    TRAINABLE,
    assemble,
    efficientnet_b0,
    split_backbone,
    trainable_part,
    unfreeze_top,
)
from lrstudy.backbone.litert import LiteRTModel, cache_dir, converted
from lrstudy.backbone.runtime import (
    RUNTIMES,
    KerasForward,
    LiteRTForward,
    choose_runtime,
    compute_features,
    image_dataset,
)
from lrstudy.core.config import BACKBONES
from lrstudy.core.errors import UserError
from lrstudy.heads.training import build_head
from tests.helpers.images import copy_sample
from tests.helpers.models import backbone_at, build_finetune_model

TOLERANCE = 1e-4  # features are ReLU6 activations averaged: 0..6


@pytest.fixture
def photos(tmp_path, monkeypatch):
    """Real photos under data/raw of a temporary working directory; their relative paths."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LRSTUDY_CACHE", str(tmp_path / "cache"))
    raw = copy_sample(tmp_path / "data" / "raw", per_class=3)
    return sorted(str(path.relative_to(raw)) for path in raw.rglob("*.jpg"))


def test_lite0_features_on_litert_agree_with_keras(photos, capsys):
    backbone = backbone_at(224)
    on_keras = compute_features(KerasForward(backbone), photos, 224, 4)
    on_litert = compute_features(LiteRTForward(backbone), photos, 224, 4)
    assert on_litert.shape == on_keras.shape == (9, 1280) and on_litert.dtype == np.float32
    assert np.abs(on_litert - on_keras).max() < TOLERANCE
    assert on_keras.max() > 1  # real activations, not a blank image's
    assert np.array_equal(on_litert, compute_features(LiteRTForward(backbone), photos, 224, 3))


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_no_images_give_no_features_on_either_runtime(photos, runtime):
    backbone = backbone_at(64)
    features = compute_features(RUNTIMES[runtime](backbone), [], 64, 4)
    assert features.shape == (0, 1280) and features.dtype == np.float32


def test_interpreters_sharing_the_images_keep_their_order(photos):
    backbone = backbone_at(64)
    images = image_dataset(photos, 64, 4)
    expected = LiteRTModel(backbone, interpreters=1).predict(images, len(photos), "one")
    assert np.array_equal(
        LiteRTModel(backbone, interpreters=3).predict(images, len(photos), "three"), expected
    )
    pixels = np.concatenate(list(image_dataset(photos, 64, 9).as_numpy_iterator()))
    assert np.array_equal(LiteRTModel(backbone, interpreters=2)(pixels), expected)


def test_a_failing_input_stops_every_interpreter_and_frees_them(photos):
    backbone = backbone_at(64)
    runner = LiteRTModel(backbone, interpreters=2)
    pixels = np.concatenate(list(image_dataset(photos, 64, 9).as_numpy_iterator()))
    taken = []

    def images_then_failure():
        for index, image in enumerate(pixels[:4]):
            taken.append(index)
            yield index, image
        raise OSError("unreadable image")

    outputs = np.zeros((len(pixels), 1280), np.float32)
    with pytest.raises(OSError, match="unreadable image"):
        runner.run(images_then_failure(), outputs)
    assert taken == [0, 1, 2, 3] and not outputs[4:].any()
    assert np.array_equal(runner(pixels), LiteRTModel(backbone, interpreters=1)(pixels))


def test_a_failing_interpreter_stops_the_others(photos):
    backbone = backbone_at(64)
    runner = LiteRTModel(backbone, interpreters=2)
    image = np.concatenate(list(image_dataset(photos, 64, 9).as_numpy_iterator()))[0]
    count, taken = 1000, []

    def stream_with_a_wrong_shape():
        for index in range(count):
            taken.append(index)
            yield index, image[:32] if index == 2 else image

    with pytest.raises(ValueError):
        runner.run(stream_with_a_wrong_shape(), np.zeros((count, 1280), np.float32))
    assert len(taken) < count  # the other interpreter did not drain the stream


@pytest.mark.slow  # converts Lite0 twice: seconds each
def test_a_conversion_is_cached_by_architecture_and_weights(photos, capsys):
    backbone = backbone_at(64)
    first = converted(backbone)
    assert "litert: converted efficientnet_lite0" in capsys.readouterr().out
    assert converted(backbone) == first
    assert capsys.readouterr().out == ""  # the second time from the cache
    assert converted(backbone_at(64)) == first

    other_weights = backbone_at(64)
    kernel = other_weights.layers[2].kernel
    kernel.assign(kernel * 1.01)
    assert converted(other_weights) != first
    other_size = backbone_at(96)
    converted(other_size)
    assert len(list(cache_dir().glob("*.tflite"))) == 3
    assert not list(cache_dir().glob(".partial-*"))


@pytest.mark.slow  # converts Lite0 twice: seconds each
def test_a_damaged_cached_conversion_is_converted_again_and_abandoned_partials_go(photos, capsys):
    backbone = backbone_at(64)
    first = converted(backbone)
    (cached_file,) = cache_dir().glob("*.tflite")
    cached_file.write_bytes(first[: len(first) // 2])  # a half-written or tampered file
    abandoned = cache_dir() / ".partial-999999999-x.tflite"  # no process has this id
    abandoned.write_bytes(b"half")
    capsys.readouterr()
    assert converted(backbone) == first
    assert "does not match its sha256; converting again" in capsys.readouterr().out
    assert cached_file.read_bytes() == first and not abandoned.exists()


@pytest.mark.slow  # several conversions: seconds each
def test_b0_converts_and_agrees_with_keras(photos):
    backbone = efficientnet_b0(None, (96, 96, 3), "avg")  # random weights: no download here
    pixels = np.concatenate(list(image_dataset(photos, 96, 9).as_numpy_iterator()))
    on_keras = backbone.predict(pixels, verbose=0)
    assert np.abs(LiteRTModel(backbone)(pixels) - on_keras).max() < TOLERANCE * on_keras.max()


@pytest.mark.slow  # several conversions: seconds each
@pytest.mark.parametrize("blocks", [0, 2, 16])
def test_finetuning_split_computes_the_model_it_replaces(photos, blocks):
    backbone = backbone_at(96)
    unfreeze_top(backbone, blocks, BACKBONES["efficientnet_lite0"])
    head = build_head(1280, 3, 0.0)
    reference = build_finetune_model(backbone, head)
    frozen, top = split_backbone(backbone)
    full = assemble(frozen, trainable_part(top, head))

    assert not frozen.trainable_weights
    assert {id(w) for w in full.trainable_weights} == {id(w) for w in reference.trainable_weights}
    pixels = np.concatenate(list(image_dataset(photos, 96, 9).as_numpy_iterator()))
    expected = reference.predict(pixels, verbose=0)
    assert np.abs(full.predict(pixels, verbose=0) - expected).max() < 1e-6
    activations = LiteRTModel(frozen)(pixels)
    on_litert = full.get_layer(TRAINABLE).predict(activations, verbose=0)
    assert np.abs(on_litert - expected).max() < TOLERANCE
    assert full.get_layer(FROZEN) is frozen
    images = image_dataset(photos, 96, 4)
    for runtime in (KerasForward, LiteRTForward):
        forward = runtime(frozen)
        assert forward.trainable_of(forward.fitted_part(full)) is full.get_layer(TRAINABLE)
        probabilities = forward.probabilities(full, images, len(photos), 4)
        assert np.abs(probabilities - expected).max() < TOLERANCE


def test_litert_runs_inside_a_tf_data_pipeline_in_order(photos):
    backbone = backbone_at(64)
    runner = LiteRTModel(backbone)
    labels = list(range(len(photos)))
    mapped = runner.map_inputs(image_dataset(photos, 64, 4, labels=labels))
    features, order = zip(*mapped.as_numpy_iterator(), strict=True)
    assert np.concatenate(order).tolist() == labels
    assert mapped.options().autotune.enabled is False  # its stalls: lrstudy/backbone/litert.py
    expected = runner(np.concatenate(list(image_dataset(photos, 64, 4).as_numpy_iterator())))
    assert np.array_equal(np.concatenate(features), expected)


def test_the_runtime_is_chosen_by_backbone_runtime():
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    assert choose_runtime("auto", replicas=1).name == ("keras" if on_gpu else "litert")
    assert choose_runtime("auto", replicas=2) is KerasForward
    assert choose_runtime("keras", replicas=1) is KerasForward
    assert choose_runtime("litert", replicas=2) is LiteRTForward


def test_without_a_litert_wheel_auto_falls_back_to_keras(monkeypatch):
    monkeypatch.setattr(litert, "Interpreter", None)  # as on a platform with no wheel
    assert choose_runtime("auto", replicas=1) is KerasForward
    with pytest.raises(
        UserError,
        match="^backbone.runtime: litert needs the package ai-edge-litert, which has no wheel for "
        "this platform",
    ):
        choose_runtime("litert", replicas=1)


@pytest.mark.slow  # several conversions: seconds each
def test_keras_is_left_untouched_by_a_conversion(photos):
    backbone = backbone_at(64)
    before = [weight.numpy().copy() for weight in backbone.weights]
    converted(backbone)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, backbone.weights, strict=True))
