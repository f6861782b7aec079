"""Where a frozen model's forward pass runs (`model.runtime`), behind one interface: the stages
ask a runtime for outputs, inputs and the part of a model Keras fits, never which runtime it is.

- `keras`: Keras runs the frozen model, on GPUs and under the tf.distribute strategies. In
  fine-tuning the frozen bottom stays inside the model Keras trains.
- `litert`: LiteRT with XNNPACK (lrstudy/models/litert.py), several times faster on CPUs. In
  fine-tuning the frozen bottom runs in the input pipeline and Keras trains only the top.
- `auto`: litert with no GPU, a single replica and a LiteRT wheel for this platform; else keras.

A fine-tuned model is pixels -> FROZEN -> TRAINABLE (lrstudy/models/unfreezing.py cuts it so):
each runtime says which of its parts Keras fits.
"""

import numpy as np
import tensorflow as tf

from lrstudy.errors import UserError
from lrstudy.models import litert
from lrstudy.params import choice

FROZEN, TRAINABLE = "frozen_bottom", "trainable_top"  # the names of a fine-tuned model's parts
CACHED_VALIDATION_BYTES = 2**30  # the frozen bottom's output on validation images, in memory


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
        """What Keras fits of a fine-tuned model `full` (lrstudy/models/unfreezing.py): all of
        it, the frozen bottom included."""
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


def choose_runtime(params, replicas):
    """The runtime of `model.runtime` (a class of RUNTIMES: call it with a frozen model)."""
    name = choice(params, "model.runtime", ("auto", *RUNTIMES))
    if name == "auto":
        on_cpu = not tf.config.list_logical_devices("GPU")
        name = "litert" if on_cpu and replicas == 1 and litert.Interpreter else "keras"
    if name == "litert" and litert.Interpreter is None:
        raise UserError(
            "model.runtime: litert needs the package ai-edge-litert, which has no wheel for this "
            "platform; use model.runtime: keras (or auto)"
        )
    return RUNTIMES[name]
