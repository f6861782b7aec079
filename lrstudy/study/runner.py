"""The one place that runs DVC's command line, reads experiments through `dvc.api`, and runs
and watches the experiment queue.

Every caller (the study, the plot tools, the tests' and bench's sandboxes) runs this
interpreter's DVC as `python -m dvc`, so the venv's DVC is the one used whatever PATH holds.
"""

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from lrstudy.core.errors import UserError

FINISHED = ("Success", "Failed")
ACTIVE = ("Running", "Queued")
# When one name has several rows (an old failed task beside its rerun), the first state wins.
PRECEDENCE = ("Success", "Running", "Queued", "Failed")
POLL_SECONDS = 5
STALL_SECONDS = 600  # no variant changed state for this long: stop waiting, say which
LOST_POLLS = 3  # polls with nothing queued or running while some variant is missing or Unknown
READ_ATTEMPTS = 5  # reads of `dvc exp show` before giving up (tasks come and go under it)


def with_this_python(env=None):
    """A copy of `env` (default: this process's) with this interpreter's folder first on PATH:
    `dvc`, the stages' `python` and queue workers are this venv's, activated or not."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


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


def experiments(read=None, attempts=READ_ATTEMPTS, pause=POLL_SECONDS):
    """Every row of `dvc exp show` (HEAD and the experiments), as `dvc.api.exp_show` gives it
    (`read`). While queued tasks run, DVC reads their temporary copies, and one that vanishes
    under it fails the read (NotDvcRepoError): it is read again, `attempts` times in all."""
    from dvc.exceptions import DvcException  # the stages need not load DVC

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


def read_experiment_file(path, rev):
    """The text of a file (its path relative to the repository root) in the git revision or
    experiment `rev`."""
    import dvc.api

    return dvc.api.read(Path(path).as_posix(), repo=".", rev=rev)


def read_experiment_json(path, rev):
    return json.loads(read_experiment_file(path, rev))


def queue_tasks():
    """{task id: (experiment name, Queued | Running | Failed | Success)} of DVC's experiment
    queue: what `dvc queue status` lists (it has no --json), from the function it calls. Not
    `dvc.api.exp_show`: while tasks run, it reads their temporary copies, and a copy that
    vanishes under it raises or hangs. None when the queue cannot be read this once."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(".") as repo:
            tasks = repo.experiments.celery_queue.status()
    except (DvcException, OSError):
        return None
    return {task["rev"]: (task["name"], task["status"]) for task in tasks}


def queue_workers():
    """How many queue workers are alive (`dvc queue status`'s last line)."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        return len(repo.experiments.celery_queue.worker_status())


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


def succeeded(names):
    """Those of the named experiments that succeeded (here or pulled from a git remote)."""
    states = experiment_states(experiments())
    return [name for name in names if states.get(name) == "Success"]


def start_queue(jobs):
    """`dvc queue start`, its output through a file: the workers it leaves running inherit it,
    and a pipe they held open would keep whoever reads this command's output waiting for them.
    The workers run `dvc` and the stages' `python` from PATH: this interpreter's come first."""
    with tempfile.TemporaryFile("w+") as output:
        started = subprocess.run(
            dvc_command("queue", "start", "--jobs", str(jobs)),
            env=with_this_python(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        output.seek(0)
        if started.returncode != 0:
            raise UserError(f"`dvc queue start --jobs {jobs}` failed:\n{output.read()}")
        print(output.read(), end="")


def wait_for(
    tasks, bar, poll=queue_tasks, workers=queue_workers, clock=time.monotonic, sleep=time.sleep
):
    """{task id: state} once every one of `tasks` ({task id: name}) has finished. Stops with a
    UserError naming what is left when a task vanished from the queue, or tasks wait with no
    worker alive, for LOST_POLLS polls, or when no state changed (or none could be read) in
    STALL_SECONDS."""
    states, changed, lost_polls = dict.fromkeys(tasks, "unread"), clock(), 0
    while True:
        if (polled := poll()) is not None:
            now = {task: polled.get(task, (None, "missing"))[1] for task in tasks}
            done = sum(state in FINISHED for state in now.values())
            bar.update(done - bar.n)
            if done == len(tasks):
                return now
            stuck = "missing" in now.values() or ("Running" not in now.values() and not workers())
            lost_polls = lost_polls + 1 if stuck else 0
            if now != states:
                states, changed = now, clock()
        if lost_polls >= LOST_POLLS or clock() - changed > STALL_SECONDS:
            left = [
                f"{tasks[task]} ({state})"
                for task, state in states.items()
                if state not in FINISHED
            ]
            reason = (
                "gone from the queue, or no worker" if lost_polls >= LOST_POLLS else "no change"
            )
            raise UserError(
                f"gave up waiting for {', '.join(left)} after {clock() - changed:.0f} s: "
                f"{reason} (see `dvc queue status` and `dvc queue logs NAME`)"
            )
        sleep(POLL_SECONDS)


def run_queue(names, jobs):
    """Run the queued experiments `names` (the newest task of each), `jobs` at a time, with a
    progress bar; print the log of each that failed."""
    start_queue(jobs)
    newest = {}
    for task, (name, state) in (queue_tasks() or {}).items():
        if name in names and (name not in newest or state in ACTIVE):
            newest[name] = task
    with tqdm(total=len(names), desc="variants", unit="exp") as bar:
        states = wait_for({task: name for name, task in newest.items()}, bar)
    for name, task in newest.items():
        if states[task] == "Failed":
            log = run_dvc("queue", "logs", name, check=False).stdout
            print(f"study: variant {name} failed; its log:\n{log}")


class Queue:
    """Runs variants on this machine's DVC experiment queue, `jobs` at a time."""

    def __init__(self, jobs):
        self.jobs = jobs

    def run_variants(self, label, variants, targets=("train",)):
        """Run every variant [(name, `dvc exp run` arguments)] that has not succeeded, up to
        the stages `targets` (none: the whole pipeline): queue those with no experiment,
        requeue those that failed before, wait for those an earlier study left queued or
        running."""
        states = experiment_states(experiments())
        names = [name for name, _ in variants]
        succeeded = [name for name in names if states.get(name) == "Success"]
        pending = [name for name in names if states.get(name) in ACTIVE]
        print(f"study: {len(variants)} variants in {label}, {len(succeeded)} already run")
        if pending:
            print(f"study: waiting also for {', '.join(pending)}, left queued by an earlier study")
        for name, arguments in variants:
            if states.get(name) == "Failed":
                print(f"study: {name} failed in an earlier study; removing that task, rerunning it")
                run_dvc("queue", "remove", name)
            if name not in succeeded + pending:
                run_dvc("exp", "run", "--queue", "-n", name, *arguments, *targets)
        if to_run := [name for name in names if name not in succeeded]:
            run_queue(to_run, min(self.jobs, len(to_run)))
