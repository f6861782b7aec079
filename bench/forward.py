"""Backbone forward throughput in a fresh process: images/s and achieved GFLOP/s.

A fresh process per configuration, because TensorFlow reads its CPU settings (oneDNN, thread
pools) once, at import or first use. Prints one JSON object per (backbone, batch size):

    python -m bench.forward --backbones efficientnet_lite0 --batch-sizes 1 8 32 [--xla]
        [--threads N] [--precision mixed_bfloat16] [--litert]

Weights do not change the arithmetic, so EfficientNet-B0 runs with random weights here
(its ImageNet file cannot be downloaded offline); Lite0 uses its packaged ImageNet weights.
"""

import argparse
import functools
import json
import time

import keras
import numpy as np
import tensorflow as tf

from lrstudy.backbone.build import builder_of
from lrstudy.backbone.litert import LiteRTModel


def multiply_accumulates(model):
    """Multiply-accumulates of one image's forward pass (Conv2D, depthwise and Dense layers)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            _, height, width, channels = layer.output.shape
            total += height * width * channels * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            inputs = layer.input.shape[-1] // layer.groups
            total += height * width * filters * inputs * int(np.prod(layer.kernel_size))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.output.shape[1:])) * layer.input.shape[-1]
    return total


def images_per_second(forward, batch_size, image_size, min_images, min_seconds):
    """Steady-state throughput: one untimed batch, then batches until both minimums are met."""
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, image_size, image_size, 3))
    batch = batch.astype(np.float32)
    np.asarray(forward(batch))
    images, started = 0, time.perf_counter()
    while images < min_images or time.perf_counter() - started < min_seconds:
        np.asarray(forward(batch))
        images += batch_size
    return images / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--xla", action="store_true", help="compile the forward pass with XLA")
    parser.add_argument("--threads", type=int, help="intra-op threads (inter-op: 1)")
    parser.add_argument(
        "--precision", default="float32", help="a Keras dtype policy, e.g. mixed_bfloat16"
    )
    parser.add_argument(
        "--litert", action="store_true", help="converted to LiteRT, run with XNNPACK"
    )
    parser.add_argument("--min-images", type=int, default=64)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    args = parser.parse_args()

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.mixed_precision.set_global_policy(args.precision)
    for backbone in args.backbones:
        weights = "imagenet" if backbone == "efficientnet_lite0" else None
        model = builder_of(backbone)(weights, (args.image_size, args.image_size, 3), "avg")
        macs = multiply_accumulates(model)
        if args.litert:
            forward = LiteRTModel(model)
        else:
            forward = tf.function(functools.partial(model, training=False), jit_compile=args.xla)
        for batch_size in args.batch_sizes:
            rate = images_per_second(
                forward, batch_size, args.image_size, args.min_images, args.min_seconds
            )
            print(
                json.dumps(
                    {
                        "backbone": backbone,
                        "batch_size": batch_size,
                        "images_per_s": round(rate, 2),
                        "gmac_per_image": round(macs / 1e9, 3),
                        "gflop_per_s": round(2 * macs * rate / 1e9, 2),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
