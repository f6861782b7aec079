"""Data: where images come from (sources), how they enter data/raw (fetch), the split and its
manifests, the tf.data image pipeline and the feature cache."""
