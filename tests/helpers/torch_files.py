"""Legacy (pre-1.6) `torch.save` files written without torch, tensor layouts and all, so that
the weights reader can be given malformed ones."""

import pickle
import struct
import sys
import types
from collections import OrderedDict

from lrstudy.backbone.torch_weights import LEGACY_MAGIC


class Tensor:
    """Pickles as torch's `_rebuild_tensor_v2(storage, offset, size, stride, ...)`."""

    def __init__(self, key, offset, size, stride):
        self.storage = ("storage", sys.modules["torch"].FloatStorage, key, "cpu", 0)
        self.layout = (offset, tuple(size), tuple(stride))

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return (rebuild, (self.storage, *self.layout, False, OrderedDict()))


class StatePickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj if isinstance(obj, tuple) and obj[:1] == ("storage",) else None


def legacy_torch_file(path, tensors, storages):
    """Write `tensors` ({name: (storage key, offset, size, stride)}) over float32 `storages`
    ({key: list of floats, or (declared count, list of floats)}) as a legacy torch file."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):
        return args

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        with open(path, "wb") as file:
            for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
                pickle.dump(header, file, protocol=2)
            state = OrderedDict((name, Tensor(*layout)) for name, layout in tensors.items())
            StatePickler(file, protocol=2).dump(state)
            pickle.dump(list(storages), file, protocol=2)
            for values in storages.values():
                count, values = values if isinstance(values, tuple) else (len(values), values)
                file.write(struct.pack("<q", count) + struct.pack(f"<{len(values)}f", *values))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return path
