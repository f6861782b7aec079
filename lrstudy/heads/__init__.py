"""The new softmax head on the cached features: its Keras model and all its seeds trained in one
graph (training), the stages baseline and train (repeats), and the LR range test (lr_range)."""
