"""Where the frozen backbone runs, and what feeds it.

Devices (`backbone.strategy`, `backbone.mixed_precision`):
- strategy auto: MirroredStrategy when more than one GPU is visible, else the default strategy;
  mirrored: over all GPUs, or over all logical CPUs when there is no GPU; default: one device;
- mixed_precision auto: mixed_float16 when a GPU is visible (faster there, slower on CPUs);
  off: float32 everywhere.

The forward pass (`backbone.runtime`), behind one interface: the stages ask a runtime for
outputs, inputs and the part of a model Keras fits, never which runtime it is.
- keras: Keras runs the frozen model, on GPUs and under the tf.distribute strategies. In
  fine-tuning the frozen bottom stays inside the model Keras trains.
- litert: LiteRT with XNNPACK (lrstudy/backbone/litert.py), several times faster on CPUs. In
  fine-tuning the frozen bottom runs in the input pipeline and Keras trains only the top.
- auto: litert with no GPU, a single replica and a LiteRT wheel for this platform; else keras.
A fine-tuned model is pixels -> FROZEN -> TRAINABLE (lrstudy/backbone/build.py cuts it so):
each runtime says which of its parts Keras fits.

The input: image files -> batches of RGB pixels in 0..255, a tf.data pipeline.
"""

import keras
import numpy as np
import tensorflow as tf

from lrstudy.backbone import litert
from lrstudy.backbone.build import TRAINABLE
from lrstudy.core.datasets import decode_image
from lrstudy.core.errors import UserError
from lrstudy.core.paths import RAW_DIR

CACHED_VALIDATION_BYTES = 2**30  # the frozen bottom's output on validation images, in memory


def configure_devices(settings):
    """Apply backbone.mixed_precision and return the strategy of backbone.strategy
    (`settings`: the BackboneConfig)."""
    gpus = tf.config.list_logical_devices("GPU")
    if settings.strategy == "mirrored" or (settings.strategy == "auto" and len(gpus) > 1):
        devices = [device.name for device in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = tf.distribute.get_strategy()
    if settings.mixed_precision == "auto" and gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(
        f"devices: {strategy.num_replicas_in_sync} replica(s) with {type(strategy).__name__}, "
        f"{keras.mixed_precision.global_policy().name} precision"
    )
    return strategy


def load_image(path, image_size):
    """An image file as float32 RGB pixels in 0..255, resized to image_size x image_size."""
    return tf.image.resize(tf.cast(decode_image(path), tf.float32), (image_size, image_size))


def image_dataset(paths, image_size, batch_size, labels=None, shuffle_seed=None, replicas=1):
    """Parallel read/decode/resize, batched and prefetched.

    `paths` are relative to data/raw. With `labels`, yields (pixels, label) pairs. With
    `shuffle_seed`, reshuffles every epoch in a seeded order; otherwise keeps `paths`' order.
    With `replicas` > 1 (batch_size must be a multiple), yields (pixels, label, weight): Keras
    cannot split a batch unevenly across replicas, so zero-weight copies of the first image pad
    the data to a multiple of `replicas`; they count in no metric.
    """
    paths = list(paths)
    targets = [] if labels is None else [list(labels)]
    if targets and replicas > 1:
        padding = -len(paths) % replicas
        targets = [targets[0] + targets[0][:1] * padding, [1.0] * len(paths) + [0.0] * padding]
        paths += paths[:1] * padding

    def decode(path, *target):
        pixels = load_image(path, image_size)
        return (pixels, *target) if target else pixels

    files = tf.constant([str(RAW_DIR / path) for path in paths], tf.string)  # typed when empty
    dataset = tf.data.Dataset.from_tensor_slices((files, *targets)).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE
    )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class KerasForward:
    name = "keras"

    def __init__(self, model):
        self.model = model

    def predict(self, dataset, count, description):
        """The frozen model's output for every input of `dataset` (`count` in all), float32, with
        a progress bar (LiteRT's is labelled with `description`)."""
        if not count:
            return np.zeros((0, *self.model.output_shape[1:]), np.float32)
        return self.model.predict(dataset, verbose=1).astype(np.float32)

    def fitted_part(self, full):
        """What Keras fits of a fine-tuned model `full`: all of it, the frozen bottom
        included."""
        return full

    def trainable_of(self, fitted):
        """The trainable top of what `fitted_part` gave (a checkpoint keeps that)."""
        return fitted.get_layer(TRAINABLE)

    def training_inputs(self, dataset, count, cache=False):
        """What the fitted part takes, from a pipeline of (pixels, *targets): the pixels."""
        return dataset

    def probabilities(self, full, images, count, batch_size):
        """Class probabilities of a fine-tuned model for a pipeline of `count` images."""
        return full.predict(images, verbose=1)


class LiteRTForward:
    name = "litert"

    def __init__(self, model):
        self.runner = litert.LiteRTModel(model)  # converted now, or read from the cache

    def predict(self, dataset, count, description):
        return self.runner.predict(dataset, count, description)

    def fitted_part(self, full):
        """Only the trainable top: the frozen bottom runs in the input pipeline."""
        return full.get_layer(TRAINABLE)

    def trainable_of(self, fitted):
        return fitted

    def training_inputs(self, dataset, count, cache=False):
        """(pixels, *targets) -> (the frozen bottom's output, *targets), in the input pipeline;
        with `cache`, computed once if it fits in memory (validation: the same every epoch)."""
        mapped = self.runner.map_inputs(dataset)
        if cache and count * np.prod(self.runner.output_shape) * 4 <= CACHED_VALIDATION_BYTES:
            return mapped.cache()
        return mapped.prefetch(tf.data.AUTOTUNE)

    def probabilities(self, full, images, count, batch_size):
        activations = self.predict(images, count, "images")
        return self.fitted_part(full).predict(activations, batch_size=batch_size, verbose=0)


RUNTIMES = {runtime.name: runtime for runtime in (LiteRTForward, KerasForward)}


def choose_runtime(name, replicas):
    """The runtime `backbone.runtime` names (auto, litert or keras) for `replicas`: a class of
    RUNTIMES, to call with a frozen model."""
    if name == "auto":
        on_cpu = not tf.config.list_logical_devices("GPU")
        name = "litert" if on_cpu and replicas == 1 and litert.Interpreter else "keras"
    if name == "litert" and litert.Interpreter is None:
        raise UserError(
            "backbone.runtime: litert needs the package ai-edge-litert, which has no wheel for "
            "this platform; use backbone.runtime: keras (or auto)"
        )
    return RUNTIMES[name]


def compute_features(forward, paths, image_size, batch_size):
    """A frozen backbone's output for each image (paths relative to data/raw), float32;
    `forward` is the backbone on its runtime."""
    return forward.predict(image_dataset(paths, image_size, batch_size), len(paths), "features")
