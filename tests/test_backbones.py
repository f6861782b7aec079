import pickle
import sys
from collections import OrderedDict

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from lrstudy.backbone.build import block_names, build_backbone, builder_of
from lrstudy.backbone.efficientnet_lite0 import STAGES, efficientnet_lite0, packaged_weights_path
from lrstudy.backbone.torch_weights import (
    LEGACY_MAGIC,
    WeightsFileError,
    read_legacy_torch_state_dict,
)
from lrstudy.core.config import BACKBONES
from tests.helpers.commands import dvc, run
from tests.helpers.sandbox import FAST, REPO_ROOT, committed_config
from tests.helpers.torch_files import legacy_torch_file

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


@pytest.mark.parametrize(
    "photo, expected", [("chelsea", {TABBY, TIGER_CAT, EGYPTIAN_CAT}), ("coffee", {ESPRESSO})]
)
def test_lite0_port_recognises_real_photos(lite0_classifier, photo, expected):
    pixels = tf.image.resize(getattr(data, photo)()[None].astype("float32"), (224, 224))
    logits = lite0_classifier(pixels, training=False).numpy()[0]
    assert int(np.argmax(logits)) in expected


def test_lite0_feature_extractor_gives_pooled_features_at_any_supported_size():
    backbone = build_backbone(committed_config({"backbone.image_size": 64}).backbone)
    assert backbone.output_shape == (None, 1280)
    features = backbone.predict(np.zeros((2, 64, 64, 3), np.float32), verbose=0)
    assert features.shape == (2, 1280) and np.all(np.isfinite(features))


def test_b0_loads_a_local_weights_file(tmp_path):
    reference = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(64, 64, 3), pooling="avg"
    )
    weights_file = tmp_path / "efficientnetb0_notop.weights.h5"
    reference.save_weights(weights_file)
    settings = {"backbone.name": "efficientnet_b0", "backbone.weights": str(weights_file)}
    loaded = build_backbone(committed_config({**settings, "backbone.image_size": 64}).backbone)
    pixels = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict(pixels, verbose=0), reference.predict(pixels, verbose=0), rtol=1e-5
    )


def test_b0_offline_without_weights_names_both_ways_out():
    # A proxy on a closed local port makes this machine offline for the download, internet or not.
    result = run(
        [
            sys.executable,
            "-c",
            "from lrstudy.backbone.build import efficientnet_b0 as b; "
            "from lrstudy.core.errors import reports_user_errors as r; "
            "r(b)('imagenet', (64, 64, 3), 'avg')",
        ],
        REPO_ROOT,
        check=False,
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
        KERAS_HOME=str(REPO_ROOT / ".pytest_cache" / "no-keras-cache"),
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: cannot download the ImageNet weights of EfficientNet-B0 (")
    assert "backbone.weights" in message and "backbone.name=efficientnet_lite0" in message


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_each_registry_entry_names_a_builder_of_pooled_features_with_its_declared_blocks(name):
    entry = BACKBONES[name]
    # weights None: random for B0 (its download is out of reach here), the packaged file for Lite0.
    model = builder_of(name)(None, (64, 64, 3), "avg")
    assert model.output_shape == (None, 1280)
    assert len(block_names(model, entry)) == entry.block_count
    assert entry.preprocessing and entry.weights_source


def test_the_lite0_entry_counts_the_blocks_of_its_stage_table():
    assert BACKBONES["efficientnet_lite0"].block_count == sum(repeats for repeats, *_ in STAGES)


class CreatesAFile:
    """Unpickled by Python's default unpickler, this object opens (creates) `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_weights(path, marker, position):
    """A legacy torch file whose pickle number `position` (0..4) would create `marker`."""
    pickles = [LEGACY_MAGIC, 1001, {"little_endian": True}, OrderedDict(), []]
    pickles[position] = CreatesAFile(marker)
    path.write_bytes(b"".join(pickle.dumps(item, protocol=2) for item in pickles))
    return path


def test_a_crafted_pickle_is_really_code_for_the_default_unpickler(tmp_path):
    pickle.loads(pickle.dumps(CreatesAFile(tmp_path / "ran")))
    assert (tmp_path / "ran").exists()


@pytest.mark.parametrize("position", range(5))
def test_the_weights_reader_runs_no_code_from_any_of_the_five_pickles(tmp_path, position):
    marker = tmp_path / "ran"
    weights = crafted_weights(tmp_path / "crafted.pth", marker, position)
    with pytest.raises(
        WeightsFileError, match=r"is not a legacy torch\.save file of a state dict: refused "
    ):
        read_legacy_torch_state_dict(weights)
    assert not marker.exists()


@pytest.mark.slow
def test_a_stage_given_crafted_weights_ends_with_one_error_line_and_runs_nothing(
    tmp_path, project, sample_dataset
):
    marker = tmp_path / "ran"
    weights = crafted_weights(tmp_path / "crafted.pth", marker, 0)
    root = project(
        {"data.source": str(sample_dataset(per_class=3)), **FAST, "backbone.weights": str(weights)}
    )
    dvc("repro", "split", cwd=root)
    result = run([sys.executable, "-m", "stages.features"], root, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: backbone.weights: ") and "refused" in message
    assert not marker.exists() and not (root / "data" / "features").exists()


def test_a_well_formed_tensor_layout_is_rebuilt_as_torch_would(tmp_path):
    weights = legacy_torch_file(
        tmp_path / "ok.pth",
        {"w": ("0", 1, (2, 2), (2, 1)), "t": ("0", 1, (2, 2), (1, 2))},
        {"0": [0, 1, 2, 3, 4]},
    )
    tensors = read_legacy_torch_state_dict(weights)
    assert tensors["w"].tolist() == [[1, 2], [3, 4]] and tensors["t"].tolist() == [[1, 3], [2, 4]]


MALFORMED = {
    "past its storage": ({"w": ("0", 0, (65536,), (1,))}, {"0": [0, 1, 2, 3]}, "reaches element"),
    "a huge stride": ({"w": ("0", 0, (2,), (10**12,))}, {"0": [0, 1, 2, 3]}, "reaches element"),
    "a huge shape": ({"w": ("0", 0, (10**6, 10**6), (1, 1))}, {"0": [0]}, "elements, over"),
    "a negative offset": ({"w": ("0", -1, (2,), (1,))}, {"0": [0, 1]}, "malformed layout"),
    "shape and strides apart": ({"w": ("0", 0, (2, 2), (1,))}, {"0": [0] * 4}, "malformed"),
    "no storage": ({"w": ("1", 0, (2,), (1,))}, {"0": [0, 1]}, "belongs to no tensor"),
    "a cut storage": ({"w": ("0", 0, (2,), (1,))}, {"0": (10**6, [0.0])}, "is cut short"),
    "a huge storage": ({"w": ("0", 0, (2,), (1,))}, {"0": (2**62, [0.0])}, "declares"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_tensor_layouts_are_refused_with_one_error(tmp_path, case):
    tensors, storages, message = MALFORMED[case]
    weights = legacy_torch_file(tmp_path / "crafted.pth", tensors, storages)
    with pytest.raises(WeightsFileError, match=message):
        read_legacy_torch_state_dict(weights)


def test_weights_of_another_architecture_are_refused_with_one_error(tmp_path):
    other = legacy_torch_file(
        tmp_path / "other.pth", {"fc.weight": ("0", 0, (2,), (1,))}, {"0": [0, 1]}
    )
    with pytest.raises(
        WeightsFileError, match="is not EfficientNet-Lite0's: no tensor '_conv_stem"
    ):
        efficientnet_lite0(weights_path=other)
    stem = {"_conv_stem.weight": ("0", 0, (2, 2, 2, 2), (8, 4, 2, 1))}
    misshapen = legacy_torch_file(tmp_path / "stem.pth", stem, {"0": [0.0] * 16})
    with pytest.raises(WeightsFileError, match="is not EfficientNet-Lite0's: "):
        efficientnet_lite0(input_shape=(64, 64, 3), weights_path=misshapen)
