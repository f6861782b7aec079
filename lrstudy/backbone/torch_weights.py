"""Tensors of a legacy (pre-1.6, non-zip) `torch.save` file, read without torch and without
running any code the file might carry."""

import math
import pickle
import struct
from collections import OrderedDict

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
}


MAX_ELEMENTS = 100_000_000  # per storage or tensor: 400 MB of float32, far above any backbone


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
                if not 0 <= count <= MAX_ELEMENTS:
                    raise ValueError(f"storage {key} declares {count} elements")
                if key not in dtypes:
                    raise ValueError(f"storage {key} belongs to no tensor")
                dtype = np.dtype(dtypes[key])
                data = file.read(count * dtype.itemsize)
                if len(data) < count * dtype.itemsize:
                    raise ValueError(f"storage {key} is cut short")
                storages[key] = np.frombuffer(data, dtype=dtype)
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

    return {
        name: _tensor(path, name, storages.get(key), offset, size, stride)
        for name, ((key, _dtype), offset, size, stride) in state_dict.items()
    }


def _tensor(path, name, flat, offset, size, stride):
    """One tensor as a numpy array, its offset, shape and strides checked against its storage,
    so that a crafted file can neither read past the storage nor ask for a huge array."""

    def refuse(why):
        return WeightsFileError(f"{path}: tensor {name} {why}; the file is damaged or crafted")

    if flat is None:
        raise refuse("has no storage")
    numbers = (offset, *size, *stride)
    if len(size) != len(stride) or not all(type(n) is int and n >= 0 for n in numbers):
        raise refuse(f"has a malformed layout (offset {offset}, size {size}, stride {stride})")
    elements = math.prod(size)
    if elements > MAX_ELEMENTS:
        raise refuse(f"declares {elements:,} elements, over the {MAX_ELEMENTS:,} allowed")
    last = offset + sum((length - 1) * step for length, step in zip(size, stride, strict=True))
    if elements and last >= len(flat):
        raise refuse(f"reaches element {last} of a storage of {len(flat)}")
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=size, strides=[step * flat.itemsize for step in stride]
    )
    return np.array(view, dtype=np.float32 if flat.dtype.kind == "f" else flat.dtype)
