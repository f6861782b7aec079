"""The backbone cut for fine-tuning: its top blocks unfrozen, the frozen rest apart.

The recipe of Keras' EfficientNet fine-tuning example: the last `blocks` MBConv blocks (and the
1x1 conv above them) become trainable while every BatchNormalization layer stays frozen and in
inference mode. The model is then cut where the unfrozen blocks begin, so that the frozen
bottom can run on any runtime (lrstudy/models/runtime.py) and only the top is trained:
pixels -> `frozen_bottom` -> `trainable_top` (unfrozen blocks + head) -> class probabilities.
"""

import keras

from lrstudy.models.runtime import FROZEN, TRAINABLE


def block_names(backbone, pattern):
    """The backbone's MBConv blocks, bottom to top (`pattern`: its registry entry's)."""
    names = []
    for layer in backbone.layers:
        match = pattern.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def unfreeze_top(backbone, blocks, pattern):
    """Make the last `blocks` blocks and everything above them trainable, except BatchNorm.

    Returns the names of the unfrozen blocks.
    """
    names = block_names(backbone, pattern)
    unfrozen = names[len(names) - blocks :] if blocks else []
    block_of = [pattern.match(layer.name) for layer in backbone.layers]
    if unfrozen:
        start = next(
            i for i, match in enumerate(block_of) if match and match.group(1) == unfrozen[0]
        )
    else:
        start = max(i for i, match in enumerate(block_of) if match) + 1
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
    """pixels -> frozen -> trainable: the fine-tuned model, as data/models/finetune.keras holds
    it."""
    pixels = keras.Input(shape=frozen.input_shape[1:], name="pixels")
    return keras.Model(pixels, trainable(frozen(pixels, training=False)), name="finetuned")
