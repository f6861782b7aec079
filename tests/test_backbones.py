import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from stages.backbones import build_backbone
from stages.lite0 import efficientnet_lite0, packaged_weights_path, read_legacy_torch_state_dict
from tests.conftest import REPO_ROOT, run

TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO = 281, 282, 285, 967


def test_legacy_torch_file_is_read_without_torch():
    assert "torch" not in sys.modules
    state_dict = read_legacy_torch_state_dict(packaged_weights_path())
    assert len(state_dict) == 296
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    assert state_dict["_bn0.num_batches_tracked"].dtype == np.int64


@pytest.fixture(scope="module")
def lite0_classifier():
    return efficientnet_lite0(include_top=True)


@pytest.mark.parametrize("photo, expected", [("chelsea", {TABBY, TIGER_CAT, EGYPTIAN_CAT}), ("coffee", {ESPRESSO})])
def test_lite0_port_recognises_real_photos(lite0_classifier, photo, expected):
    pixels = tf.image.resize(getattr(data, photo)()[None].astype("float32"), (224, 224))
    logits = lite0_classifier(pixels, training=False).numpy()[0]
    assert int(np.argmax(logits)) in expected


def test_lite0_feature_extractor_gives_pooled_features_at_any_supported_size():
    backbone = build_backbone("efficientnet_lite0", "imagenet", 64)
    assert backbone.output_shape == (None, 1280)
    features = backbone.predict(np.zeros((2, 64, 64, 3), np.float32), verbose=0)
    assert features.shape == (2, 1280) and np.all(np.isfinite(features))


def test_b0_loads_a_local_weights_file(tmp_path):
    reference = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(64, 64, 3), pooling="avg")
    weights_file = tmp_path / "efficientnetb0_notop.weights.h5"
    reference.save_weights(weights_file)
    loaded = build_backbone("efficientnet_b0", str(weights_file), 64)
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), reference.predict(pixels, verbose=0), rtol=1e-5)


def test_b0_offline_without_weights_names_both_ways_out():
    # A proxy on a closed local port makes this machine offline for the download, internet or not.
    result = run(
        [sys.executable, "-c", "from stages.backbones import build_backbone as b; "
         "from stages.errors import reports_user_errors as r; r(b)('efficientnet_b0', 'imagenet', 64)"],
        REPO_ROOT, check=False,
        HTTPS_PROXY="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9", NO_PROXY="", no_proxy="",
        KERAS_HOME=str(REPO_ROOT / ".pytest_cache" / "no-keras-cache"),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "model.weights" in message and "model.backbone=efficientnet_lite0" in message
