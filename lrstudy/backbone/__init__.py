"""The frozen ImageNet backbone: its Keras builders and the cut for fine-tuning (build), the
EfficientNet-Lite0 port and its weights reader, LiteRT, and where a forward pass runs and what
feeds it (runtime)."""
