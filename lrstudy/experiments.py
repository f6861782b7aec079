"""DVC's and git's command lines and DVC's experiments, for everything that drives them from
Python: the study, the tools, the bench and the tests' sandboxes.

Every caller runs this interpreter's DVC as `python -m dvc`, so the venv's DVC is the one used
whatever PATH holds. Experiments are read through `dvc.api` (imported only when read: the stages
need not load DVC).
"""

import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lrstudy.core.errors import UserError, redacted

# When one name has several rows (an old failed task beside its rerun), the first state wins.
PRECEDENCE = ("Success", "Running", "Queued", "Failed")
READ_ATTEMPTS = 5  # reads of `dvc exp show` before giving up (tasks come and go under it)
READ_PAUSE_SECONDS = 5


def with_this_python(env=None):
    """A copy of `env` (default: this process's) with this interpreter's folder first on PATH:
    `dvc`, the stages' `python` and queue workers are this venv's, activated or not."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def variant_env(jobs):
    """with_this_python's environment for a variant that runs beside `jobs - 1` others on this
    machine: TensorFlow on its share of the cores (TF_NUM_INTRAOP_THREADS, one inter-op
    thread) rather than on all of them, which the jobs would fight over (docs/performance.md).
    The user's own settings stay; the results do not depend on the thread count
    (tests/test_determinism.py)."""
    env = with_this_python()
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return env


def git(*args, cwd=None):
    """`git ARGS`'s standard output (stripped); a failure raises a RuntimeError with git's own
    message, credentials masked (on a Dask worker, what the driver prints for the variant)."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(redacted(f"`git {' '.join(args)}` failed: {result.stderr.strip()}"))
    return result.stdout.strip()


def try_git(*args, cwd=None):
    """`git ARGS`'s standard output (stripped), or None where it failed."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def dvc_command(*args):
    return [sys.executable, "-m", "dvc", *args]


def run_dvc(*args, cwd=None, env=None, capture=True, check=True):
    """`dvc ARGS`; its CompletedProcess (text). With `check`, a failure is a UserError naming
    the command and, when captured, its output."""
    result = subprocess.run(
        dvc_command(*args), cwd=cwd, env=env, capture_output=capture, text=True, check=False
    )
    if check and result.returncode != 0:
        details = f":\n{result.stdout}{result.stderr}" if capture else ""
        raise UserError(f"`dvc {' '.join(args)}` failed{details}")
    return result


def experiment_rows(read=None, attempts=READ_ATTEMPTS, pause=READ_PAUSE_SECONDS):
    """Every row of `dvc exp show` (HEAD and the experiments), as `dvc.api.exp_show` gives it
    (`read`). While queued tasks run, DVC reads their temporary copies, and one that vanishes
    under it fails the read (NotDvcRepoError): it is read again, `attempts` times in all."""
    from dvc.exceptions import DvcException

    if read is None:
        import dvc.api

        read = functools.partial(dvc.api.exp_show, repo=".")
    for _ in range(attempts):
        try:
            return read()
        except (DvcException, OSError) as error:
            failure = " ".join(str(error).split())
            time.sleep(pause)
    raise UserError(
        f"cannot read the experiments (`dvc exp show`) in {attempts} tries: {failure}; is a "
        "queue still changing them? See `dvc queue status`"
    )


def precedence(state):
    return PRECEDENCE.index(state) if state in PRECEDENCE else len(PRECEDENCE)


def experiment_states(rows):
    """{experiment: Success | Running | Queued | Failed | Unknown} from `dvc.api.exp_show` rows:
    experiments that finished carry no state, or Success; queued, running and failed tasks
    carry theirs."""
    states = {}
    for row in rows:
        name = row.get("Experiment")
        if not name or row.get("typ") == "baseline":
            continue
        state = row.get("State") or "Success"
        state = state if state in PRECEDENCE else "Unknown"
        if name not in states or precedence(state) < precedence(states[name]):
            states[name] = state
    return states


def succeeded_revs(rows):
    """{experiment: its commit} of the experiments that succeeded, from `dvc.api.exp_show`
    rows."""
    return {
        row["Experiment"]: row["rev"]
        for row in rows
        if row.get("Experiment")
        and row.get("typ") != "baseline"
        and (row.get("State") or "Success") == "Success"
    }


def succeeded(names):
    """Those of the named experiments that succeeded (here or pulled from a git remote)."""
    states = experiment_states(experiment_rows())
    return [name for name in names if states.get(name) == "Success"]


def read_experiment_file(path, rev):
    """The text of a file (its path relative to the repository root) in the git revision or
    experiment `rev`; FileNotFoundError where the revision has none."""
    import dvc.api
    from dvc.exceptions import PathMissingError

    try:
        return dvc.api.read(Path(path).as_posix(), repo=".", rev=rev)
    except PathMissingError:
        raise FileNotFoundError(f"{rev} has no {Path(path).as_posix()}") from None


def read_experiment_json(path, rev):
    return json.loads(read_experiment_file(path, rev))
