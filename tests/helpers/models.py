"""The reference reports' model, images -> frozen backbone -> head in one Keras model: what the
project's cut model (lrstudy/models/unfreezing.py) must compute, and what the bench times
against training on cached features."""

import keras


def build_finetune_model(backbone, head):
    inputs = keras.Input(shape=backbone.input_shape[1:], name="pixels")
    features = backbone(inputs, training=False)  # BatchNorm keeps its ImageNet statistics
    return keras.Model(inputs, head(features), name="finetuned")
