"""The frozen forward pass on CPUs: a Keras model converted to LiteRT and run with XNNPACK.

On this project's 2-core CPUs LiteRT runs EfficientNet-Lite0 several times as fast as Keras
`predict` (docs/performance.md); Keras stays for GPUs and the tf.distribute strategies.
`backbone.runtime` chooses (lrstudy/backbone/runtime.py).

A conversion takes seconds, so each is cached under ~/.cache/lrstudy/litert (or
$LRSTUDY_CACHE/litert), named by a hash of what decides its result: the model's layers, settings
and wiring, its weights and the TensorFlow version that converts it. A cached file is never
stale, is used only if it matches the sha256 written beside it, and experiments and queued runs
share one conversion of the same frozen backbone.
"""

import contextlib
import hashlib
import io
import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import atomic_output

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # no wheel for this platform (Intel Macs): Keras runs everything
    Interpreter = None

# tf.data's autotuner competes with XNNPACK's threads for the cores: with it, about half the
# passes over 256 images stalled for ~1 s (~95 instead of ~165 images/s; docs/performance.md). Its
# AUTOTUNE settings then mean one worker per core and a fixed prefetch buffer.
WITHOUT_AUTOTUNE = tf.data.Options()
WITHOUT_AUTOTUNE.autotune.enabled = False
THREADS = len(os.sched_getaffinity(0))  # the cores this process may use


def cache_dir():
    root = os.environ.get("LRSTUDY_CACHE") or Path.home() / ".cache" / "lrstudy"
    return Path(root) / "litert"


def layer_names(model):
    """Every layer's name, its inputs' and nested models' too, in the model's order."""
    inputs = model.get_config().get("input_layers", [])  # `layers` leaves the inputs out
    for entry in [inputs] if inputs and isinstance(inputs[0], str) else inputs:
        yield entry[0]
    for layer in model.layers:
        yield layer.name
        if isinstance(layer, keras.Model):
            yield from layer_names(layer)


def without_names(config, names):
    """`config` with each of `names` replaced by its position: Keras numbers unnamed layers per
    process (re_lu_7, re_lu_40, ...), and the wiring refers to layers by name."""
    if isinstance(config, dict):
        return {key: without_names(value, names) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [without_names(value, names) for value in config]
    return names.get(config, config) if isinstance(config, str) else config


def conversion_key(model):
    """A hash of what decides a conversion: the layers, their settings and wiring (not their
    names), the weights and TensorFlow's version."""
    names = {name: f"#{index}" for index, name in enumerate([model.name, *layer_names(model)])}
    structure = [tf.__version__, without_names(model.get_config(), names)]
    digest = hashlib.sha256(json.dumps(structure, sort_keys=True, default=str).encode())
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:32]


def cached(path):
    """A cached conversion if it is whole: its bytes match the sha256 written beside it once
    they were complete (a damaged or foreign file there is converted again)."""
    try:
        content = path.read_bytes()
        recorded = digest_path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if hashlib.sha256(content).hexdigest() == recorded:
        return content
    print(f"litert: {path} does not match its sha256; converting again")
    return None


def digest_path(path):
    return path.with_name(path.name + ".sha256")


def remove_abandoned(folder):
    """Partial files of conversions whose process is gone (killed mid-write)."""
    for partial in Path(folder).glob(".partial-*"):
        owner = partial.name.split("-")[1]
        try:
            os.kill(int(owner), 0)
        except (ValueError, ProcessLookupError):
            partial.unlink(missing_ok=True)
        except PermissionError:  # alive, someone else's
            pass


def converted(model):
    """The model as a LiteRT flatbuffer: from the cache, or converted once and cached."""
    path = cache_dir() / f"{model.name}-{conversion_key(model)}.tflite"
    if (content := cached(path)) is not None:
        return content
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the converter lists every captured tensor
        content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    print(f"litert: converted {model.name} in {time.perf_counter() - started:.1f} s")
    keep(path, content)
    return content


def keep(path, content):
    """Cache a conversion at `path`; where the cache cannot be written (read-only, full), say
    so and go on: it only saves the next run a conversion."""
    try:
        if path.parent.exists():
            remove_abandoned(path.parent)
        # Concurrent runs may convert the same model: each writes its own partial files.
        with atomic_output(path, private=True) as partial:
            partial.write_bytes(content)
        with atomic_output(digest_path(path), private=True) as partial:
            partial.write_text(hashlib.sha256(content).hexdigest() + "\n", encoding="utf-8")
    except (OSError, UserError) as error:
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(
            f"litert: warning: cannot keep the conversion in {path.parent.parent} ({why}); "
            "the next run converts again (set LRSTUDY_CACHE to a writable folder)"
        )


class LiteRTModel:
    """A converted model on one single-threaded interpreter per core, each running one image per
    call and taking the next from a shared stream.

    XNNPACK is fastest at batch 1 on these CPUs. One interpreter of two threads waits at the end
    of every one of the model's ops for its slower thread, and the input pipeline's threads make
    one slower all the time; two interpreters of one thread wait for nothing (docs/performance.md).
    """

    def __init__(self, model, interpreters=THREADS):
        content = converted(model)
        self.output_shape = tuple(model.output_shape[1:])
        self.idle = queue.SimpleQueue()  # an interpreter runs one image at a time
        for _ in range(interpreters):
            self.idle.put(SingleImageInterpreter(content, model.input_shape[1:]))
        self.workers = ThreadPoolExecutor(interpreters, thread_name_prefix="litert")
        self.interpreters = interpreters

    def run(self, images, outputs, on_output=None):
        """outputs[index] = the model's output for each (index, image) of the iterator `images`."""
        lock, stop = threading.Lock(), threading.Event()

        def drain():
            interpreter = self.idle.get()
            try:
                while not stop.is_set():
                    with lock:  # an iterator yields to one thread at a time
                        item = next(images, None)
                    if item is None:
                        return
                    index, image = item
                    outputs[index] = interpreter(image)
                    if on_output:
                        with lock:
                            on_output()
            except BaseException:  # a failed image: the other workers stop too
                stop.set()
                raise
            finally:
                self.idle.put(interpreter)

        running = [self.workers.submit(drain) for _ in range(self.interpreters)]
        try:
            for worker in running:
                worker.result()
        except BaseException:  # Ctrl-C while the workers run
            stop.set()
            raise
        return outputs

    def __call__(self, batch):
        """Outputs for a batch of inputs (NumPy arrays), float32."""
        outputs = np.empty((len(batch), *self.output_shape), np.float32)
        return self.run(enumerate(batch), outputs)

    def map_inputs(self, dataset):
        """A tf.data map: (inputs, *targets) -> (outputs, *targets), run through LiteRT."""

        def forward(inputs, *targets):
            outputs = tf.numpy_function(self, [inputs], tf.float32, stateful=False)
            return (tf.ensure_shape(outputs, (None, *self.output_shape)), *targets)

        return dataset.map(forward).with_options(WITHOUT_AUTOTUNE)

    def predict(self, dataset, count, description):
        """Outputs for every batch of `dataset` (`count` inputs in all), with a progress bar."""
        outputs = np.empty((count, *self.output_shape), np.float32)
        batches = dataset.with_options(WITHOUT_AUTOTUNE).as_numpy_iterator()
        with tqdm(total=count, desc=description, unit="img") as bar:
            self.run(enumerate(image for batch in batches for image in batch), outputs, bar.update)
        return outputs


class SingleImageInterpreter:
    """A single-threaded LiteRT interpreter (XNNPACK) of a converted model, resized to one input
    per call."""

    def __init__(self, content, input_shape):
        self.interpreter = Interpreter(model_content=content, num_threads=1)
        self.input_index = self.interpreter.get_input_details()[0]["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        self.interpreter.resize_tensor_input(self.input_index, [1, *input_shape], strict=False)
        self.interpreter.allocate_tensors()

    def __call__(self, image):
        self.interpreter.set_tensor(self.input_index, image[np.newaxis])
        self.interpreter.invoke()  # without the GIL: the other interpreters run meanwhile
        return self.interpreter.get_tensor(self.output_index)[0]
