"""The tf.data input pipeline: image files -> batches of RGB pixels in 0..255 (-> features)."""

import tensorflow as tf

from lrstudy.paths import RAW_DIR


def load_image(path, image_size):
    """An image file as float32 RGB pixels in 0..255, resized to image_size x image_size."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return tf.image.resize(tf.cast(image, tf.float32), (image_size, image_size))


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


def compute_features(forward, paths, image_size, batch_size):
    """A frozen backbone's output for each image (paths relative to data/raw), float32;
    `forward` is the backbone on its runtime (lrstudy/models/runtime.py)."""
    return forward.predict(image_dataset(paths, image_size, batch_size), len(paths), "features")
