"""The tf.data input pipeline: image files -> batches of RGB pixels in 0..255."""

import tensorflow as tf

from stages.layout import RAW_DIR


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
    paths, labels = list(paths), None if labels is None else list(labels)
    weights = [1.0] * len(paths)
    if labels is not None and replicas > 1:
        padding = -len(paths) % replicas
        paths, labels, weights = paths + paths[:1] * padding, labels + labels[:1] * padding, weights + [0.0] * padding
    files = tf.data.Dataset.from_tensor_slices([str(RAW_DIR / path) for path in paths])
    if labels is None:
        dataset = files.map(lambda path: load_image(path, image_size), num_parallel_calls=tf.data.AUTOTUNE)
    elif replicas > 1:
        dataset = tf.data.Dataset.zip(files, *map(tf.data.Dataset.from_tensor_slices, (labels, weights))).map(
            lambda path, label, weight: (load_image(path, image_size), label, weight),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        dataset = tf.data.Dataset.zip(files, tf.data.Dataset.from_tensor_slices(labels)).map(
            lambda path, label: (load_image(path, image_size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
