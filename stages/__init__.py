"""The learning-rate study's DVC stages: one module per stage, plus small shared modules."""
