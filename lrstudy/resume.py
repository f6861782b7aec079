"""Resuming an interrupted training run from its last completed epoch.

After every epoch the model (weights and optimizer state) and the history so far are saved
together, then swapped in with one rename, so a checkpoint is never half-written. A rerun with
the same fingerprint (params and inputs) continues from there; any other rerun starts over.
Keras' BackupAndRestore does the first half of this but keeps no history, and the history is
what lets the dvclive logs of a resumed run come out exactly as one uninterrupted run's.
"""

import json
import shutil
import time
from pathlib import Path

import keras

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
        partial = self.directory.with_name(self.directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.model.save(partial / MODEL_FILE)
        state = {"fingerprint": self.fingerprint, "history": self.history, "seconds": self.seconds}
        (partial / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
        previous = self.directory.with_name(self.directory.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if self.directory.exists():
            self.directory.rename(previous)
        partial.rename(self.directory)
        shutil.rmtree(previous, ignore_errors=True)


def load_checkpoint(directory, fingerprint):
    """(model, history, seconds) saved by EpochCheckpoint for this fingerprint, or None."""
    directory = Path(directory)
    if not directory.exists():  # a kill between the two renames leaves only `.previous`
        previous = directory.with_name(directory.name + ".previous")
        if previous.exists():
            previous.rename(directory)
    state_file = directory / STATE_FILE
    if not state_file.exists():
        return None
    state = json.loads(state_file.read_text(encoding="utf-8"))
    if state["fingerprint"] != fingerprint:
        return None
    return keras.models.load_model(directory / MODEL_FILE), state["history"], state["seconds"]


def remove_checkpoint(directory):
    for suffix in ("", ".partial", ".previous"):
        shutil.rmtree(Path(str(directory) + suffix), ignore_errors=True)
