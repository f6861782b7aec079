"""The one place that runs DVC's command line, and reads experiments through `dvc.api`.

Every caller (the study, the plot tools, the tests' and bench's sandboxes) runs this
interpreter's DVC as `python -m dvc`, so the venv's DVC is the one used whatever PATH holds.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from lrstudy.errors import UserError

FINISHED = ("Success", "Failed")
ACTIVE = ("Running", "Queued")
# When one name has several rows (an old failed task beside its rerun), the first state wins.
PRECEDENCE = ("Success", "Running", "Queued", "Failed")
POLL_SECONDS = 5
STALL_SECONDS = 1800  # no variant changed state for this long: stop waiting, say which
LOST_POLLS = 3  # polls with nothing queued or running while some variant is missing or Unknown


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


def experiments():
    """Every row of `dvc exp show` (HEAD and the experiments), as `dvc.api.exp_show` gives it."""
    import dvc.api  # the stages need not load DVC

    return dvc.api.exp_show(repo=".")


def experiments_while_running():
    """experiments(), or None while DVC cannot read a task that is just finishing (its temporary
    copy vanishes under `exp show`: NotDvcRepoError); the next poll reads it."""
    from dvc.exceptions import DvcException

    try:
        return experiments()
    except DvcException:
        return None


def read_experiment_file(path, rev):
    """The text of a file (its path relative to the repository root) in the git revision or
    experiment `rev`."""
    import dvc.api

    return dvc.api.read(Path(path).as_posix(), repo=".", rev=rev)


def read_experiment_json(path, rev):
    return json.loads(read_experiment_file(path, rev))


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


def start_queue(jobs):
    """`dvc queue start`, its output through a file: the workers it leaves running inherit it,
    and a pipe they held open would keep whoever reads this command's output waiting for them."""
    with tempfile.TemporaryFile("w+") as output:
        started = subprocess.run(
            dvc_command("queue", "start", "--jobs", str(jobs)),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        output.seek(0)
        if started.returncode != 0:
            raise UserError(f"`dvc queue start --jobs {jobs}` failed:\n{output.read()}")
        print(output.read(), end="")


def wait_for(names, bar, rows=experiments_while_running, clock=time.monotonic, sleep=time.sleep):
    """{name: state} once every one of `names` has finished. Stops with a UserError naming what
    is left when nothing is queued or running any more but some task is missing or Unknown
    (after LOST_POLLS polls), or when no state changed (or none could be read) in
    STALL_SECONDS."""
    states, changed, idle_polls = dict.fromkeys(names, "unread"), clock(), 0
    while True:
        if (polled := rows()) is not None:
            known = experiment_states(polled)
            now = {name: known.get(name, "missing") for name in names}
            done = sum(state in FINISHED for state in now.values())
            bar.update(done - bar.n)
            if done == len(names):
                return now
            idle_polls = 0 if any(state in ACTIVE for state in now.values()) else idle_polls + 1
            if now != states:
                states, changed = now, clock()
        if idle_polls >= LOST_POLLS or clock() - changed > STALL_SECONDS:
            left = [f"{name} ({state})" for name, state in states.items() if state not in FINISHED]
            reason = "nothing is queued or running" if idle_polls >= LOST_POLLS else "no change"
            raise UserError(
                f"gave up waiting for {', '.join(left)} after {clock() - changed:.0f} s: "
                f"{reason} (see `dvc queue status` and `dvc queue logs NAME`)"
            )
        sleep(POLL_SECONDS)


def run_queue(names, jobs):
    """Run the queued experiments `names`, `jobs` at a time, with a progress bar; print the log
    of each that failed. The names of those that succeeded."""
    start_queue(jobs)
    with tqdm(total=len(names), desc="variants", unit="exp") as bar:
        states = wait_for(names, bar)
    for name, state in states.items():
        if state == "Failed":
            log = run_dvc("queue", "logs", name, check=False).stdout
            print(f"study: variant {name} failed; its log:\n{log}")
    return [name for name, state in states.items() if state == "Success"]
