"""Same seed, same data, same params -> the same weights and metrics on CPU."""

import keras
import tensorflow as tf


def seed_everything(seed):
    """Seed Python, NumPy, TensorFlow and Keras, and make TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
