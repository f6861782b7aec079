"""Models the tests and the bench build: a backbone of the committed params at a given size,
and the reference reports' model, images -> frozen backbone -> head in one Keras model: what the
project's cut model (lrstudy/backbone/build.py) must compute, and what the bench times against
training on cached features."""

import keras

from lrstudy.backbone.build import build_backbone
from tests.helpers.sandbox import committed_config


def backbone_at(image_size, name="efficientnet_lite0"):
    """The committed params' backbone (`name`, ImageNet weights) at `image_size` px."""
    return build_backbone(
        committed_config({"backbone.name": name, "backbone.image_size": image_size}).backbone
    )


def build_finetune_model(backbone, head):
    inputs = keras.Input(shape=backbone.input_shape[1:], name="pixels")
    features = backbone(inputs, training=False)  # BatchNorm keeps its ImageNet statistics
    return keras.Model(inputs, head(features), name="finetuned")
