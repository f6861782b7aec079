"""Models: the backbone registry, the EfficientNet-Lite0 port and its weights reader, where a
frozen forward pass runs (Keras or LiteRT), the cut for fine-tuning, and the devices."""
