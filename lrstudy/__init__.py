"""The learning-rate study's DVC stages: one module per stage, plus small shared modules."""

import os

# TensorFlow's C++ start-up messages (CUDA probing on CPU-only machines) bury the stages' own
# output; errors still show. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
