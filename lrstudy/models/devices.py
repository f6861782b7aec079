"""Where the backbone runs: a tf.distribute strategy and, on GPUs, mixed precision.

`model.strategy`:
- auto:     MirroredStrategy when more than one GPU is visible, else the default strategy;
- mirrored: MirroredStrategy over all GPUs, or over all logical CPUs when there is no GPU;
- default:  one device, no replication.
`model.mixed_precision`: auto turns on mixed_float16 when a GPU is visible (faster there,
slower on CPUs); off keeps float32 everywhere.
"""

import keras
import tensorflow as tf

from lrstudy.params import choice

STRATEGIES = ("auto", "mirrored", "default")
MIXED_PRECISION = ("auto", "off")


def make_strategy(name):
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        devices = [device.name for device in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def configure_devices(params):
    """Apply model.mixed_precision and return the strategy of model.strategy."""
    strategy = make_strategy(choice(params, "model.strategy", STRATEGIES))
    mixed = choice(params, "model.mixed_precision", MIXED_PRECISION)
    if mixed == "auto" and tf.config.list_logical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(
        f"devices: {strategy.num_replicas_in_sync} replica(s) with {type(strategy).__name__}, "
        f"{keras.mixed_precision.global_policy().name} precision"
    )
    return strategy
