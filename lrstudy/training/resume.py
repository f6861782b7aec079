"""Resuming an interrupted training run from its last completed epoch.

After every epoch the model (weights and optimizer state) and the history so far are saved
together, as one atomic output (lrstudy/atomic.py), so a checkpoint is never half-written. A
rerun with the same fingerprint (params and inputs) continues from there; any other rerun
starts over. Keras' BackupAndRestore does the first half of this but keeps no history, and the
history is what lets the dvclive logs of a resumed run come out exactly as one uninterrupted
run's.
"""

import json
import time
from pathlib import Path

import keras

from lrstudy.atomic import atomic_output, recover
from lrstudy.models.saving import save_model

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model + history after each epoch into `directory`."""

    def __init__(self, directory, fingerprint, history=None, seconds=0.0):
        super().__init__()
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.history = history or []
        self.seconds = seconds
        self._epoch_started = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self._epoch_started
        self.history.append({key: float(value) for key, value in (logs or {}).items()})
        state = {"fingerprint": self.fingerprint, "history": self.history, "seconds": self.seconds}
        with atomic_output(self.directory) as partial:
            partial.mkdir()
            save_model(self.model, partial / MODEL_FILE)
            (partial / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")


def load_checkpoint(directory, fingerprint):
    """(model, history, seconds) saved by EpochCheckpoint for this fingerprint, or None."""
    directory = Path(directory)
    recover(directory)
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state["fingerprint"] != fingerprint:
        return None
    return keras.models.load_model(directory / MODEL_FILE), state["history"], state["seconds"]
