"""Training: the head, its repeats over seeds, the learning-rate schedules, the LR range test,
fine-tuning, resuming and determinism."""
