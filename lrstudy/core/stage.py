"""What every stage's main() runs inside (`@stage_main`), in this order:

1. TensorFlow's C++ log lines held back (lrstudy/core/quiet.py);
2. params.yaml loaded and checked (lrstudy/core/config.py): main receives the Config, and
   imports its heavy modules only then, so a bad value answers at once;
3. its inputs present: dvc.yaml's deps of the stage, each missing one named with the stage that
   writes it (`python -m stages.train` before `features` ran);
4. main(config); a UserError or Ctrl-C as one line (lrstudy/core/errors.py);
5. refused (exit 1) if the params it declares in dvc.yaml changed while it ran: DVC records the
   values it finds once the stage ends, so a second `dvc exp run` in the same workspace would
   pair this run's outputs with its own params;
and, all along, interrupted if the process that started it (DVC, past the shell it runs the
command in) ends: killed alone, DVC would leave its stage running as an orphan.

The stage is named by its file: stages/train.py is the stage `train`.
"""

import functools
import os
import signal
import threading
import time
from pathlib import Path

import yaml

from lrstudy.core.config import PARAMS_FILE, load_config
from lrstudy.core.errors import UserError, reports_user_errors, stop_signals
from lrstudy.core.quiet import quiet_tensorflow

PIPELINE_FILE = Path("dvc.yaml")
CODE_FOLDERS = ("stages", "lrstudy")


def pipeline_stages():
    return yaml.safe_load(PIPELINE_FILE.read_text(encoding="utf-8"))["stages"]


def paths_of(entries):
    """dvc.yaml's deps or outs entries (a path, or {path: options}) as paths."""
    return [Path(entry if isinstance(entry, str) else next(iter(entry))) for entry in entries]


def missing_inputs(stage, stages):
    """[(missing path, the stage that writes it or None)] of `stage`'s data deps in dvc.yaml: a
    dep, and every other stage's output inside a folder dep."""
    writers = {
        out: name for name, entry in stages.items() for out in paths_of(entry.get("outs", []))
    }
    missing = []
    for dep in paths_of(stages[stage].get("deps", [])):
        if dep.parts[0] in CODE_FOLDERS:
            continue
        inside = [out for out in writers if dep in (out, *out.parents)]
        for path in inside or [dep]:
            if not path.exists():
                missing.append((path, writers.get(path)))
    return missing


def check_inputs(stage):
    if not PIPELINE_FILE.exists():
        return
    for path, writer in missing_inputs(stage, pipeline_stages()):
        hint = f"run `dvc repro {writer}` first" if writer else "it is not written by any stage"
        raise UserError(f"{path} is missing: {hint} (or `dvc pull`, if it was pushed)")


def params_text():
    return PARAMS_FILE.read_text(encoding="utf-8") if PARAMS_FILE.exists() else ""


def declared_keys(stage):
    """The dotted params.yaml keys `stage` declares in dvc.yaml, expanded to their leaves."""
    import dvc.api  # only now: it takes most of a second to import

    def leaves(nested, prefix=""):
        for key, value in nested.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield prefix + key

    return list(leaves(dvc.api.params_show(stages=[stage])))


ABSENT = object()


def value_at(params, key):
    for part in key.split("."):
        if not isinstance(params, dict) or part not in params:
            return ABSENT
        params = params[part]
    return params


def refuse_changed_params(stage, earlier_text):
    """A UserError if the params `stage` declares changed since params.yaml read
    `earlier_text`."""
    now_text = params_text()
    if now_text == earlier_text:
        return
    try:
        earlier, now = yaml.safe_load(earlier_text), yaml.safe_load(now_text)
        changed = [
            key for key in declared_keys(stage) if value_at(earlier, key) != value_at(now, key)
        ]
    except Exception:  # params.yaml gone or no longer valid: changed all the same
        changed = ["its values"]
    if changed:
        raise UserError(
            f"{PARAMS_FILE} changed while {stage} ran ({', '.join(changed)}), by hand or by "
            "another `dvc exp run` in this workspace, so its outputs are not recorded. Run "
            "experiments one at a time, or queue them: `dvc exp run --queue -S ...`, then "
            "`dvc exp run --run-all`"
        )


SHELLS = {"sh", "dash", "bash", "zsh"}
WATCH_SECONDS = 1.0


def caller():
    """The process a stage runs for: its parent, or, when that is the shell DVC runs a stage's
    command in (`sh -c "python -m stages.train"`), the shell's parent, DVC itself."""
    import psutil  # only now: the params are checked first

    parent = psutil.Process().parent()
    try:
        if parent and parent.name() in SHELLS and parent.cmdline()[1:2] == ["-c"]:
            return parent.parent() or parent
    except psutil.Error:  # gone already
        pass
    return parent


def alive(process):
    """Whether `process` still runs: not gone, not another process under a reused pid (psutil
    checks), and not a zombie, which psutil calls running (a killed DVC whose own parent holds
    its pipes, as a Dask worker does, stays one until that parent reads its exit)."""
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_with(process):
    """Interrupt this stage (as Ctrl-C would: no output is left half-written) once `process` is
    gone. DVC forwards no SIGTERM to its stage: killed alone, it would leave the stage running
    as an orphan that writes behind the next run's back."""
    if process is None:
        return

    def watch():
        while alive(process):
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="stop-with-caller", daemon=True).start()


def stage_main(main):
    """A stage's `main(config)` as the module's entry point (see above)."""
    stage = Path(main.__code__.co_filename).stem

    @reports_user_errors
    @functools.wraps(main)
    def guarded():
        earlier_text = params_text()
        config = load_config()
        check_inputs(stage)
        stop_with(caller())
        main(config)
        refuse_changed_params(stage, earlier_text)

    @functools.wraps(main)
    def run():
        # stop_signals: or, started in the background, stop_with could not stop it
        with stop_signals(), quiet_tensorflow():
            guarded()

    return run
