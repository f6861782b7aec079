"""The frozen ImageNet backbones: pixels in 0..255, pooled features out."""

from pathlib import Path

import keras

from stages import lite0
from stages.errors import UserError
from stages.params import choice, number, text

BACKBONES = ("efficientnet_b0", "efficientnet_lite0")
MIN_IMAGE_SIZE = 32  # five stride-2 stages: smaller inputs leave no spatial extent


def backbone_settings(params):
    """Validated `model.*` values: backbone name, weights, image size."""
    name = choice(params, "model.backbone", BACKBONES)
    weights = text(params, "model.weights")
    image_size = number(params, "model.image_size", minimum=MIN_IMAGE_SIZE, integer=True)
    if weights != "imagenet" and not Path(weights).is_file():
        raise UserError(
            f"params.yaml: model.weights = {weights!r} is neither 'imagenet' nor an existing file"
        )
    return name, weights, image_size


def build_backbone(name, weights, image_size, pooling="avg"):
    """A frozen-able backbone with ImageNet weights: the packaged file or Keras' download."""
    input_shape = (image_size, image_size, 3)
    if name == "efficientnet_lite0":
        weights_path = None if weights == "imagenet" else weights
        return lite0.efficientnet_lite0(input_shape, pooling=pooling, weights_path=weights_path)
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
