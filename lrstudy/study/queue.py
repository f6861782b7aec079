"""The runner of a study on this machine: DVC's experiment queue, run and watched.

A runner is used as `with runner: runner.run_variants(label, runs)`; this one and Dask's
(cluster.py) take the same calls, so every kind of grid runs on either.
"""

import subprocess
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from lrstudy.core.errors import UserError
from lrstudy.experiments import (
    dvc_command,
    experiment_rows,
    experiment_states,
    run_dvc,
    succeeded_revs,
    variant_env,
)
from lrstudy.study.reuse import ready_to_run, refuse_stale

FINISHED = ("Success", "Failed")
ACTIVE = ("Running", "Queued")
POLL_SECONDS = 5
# No variant changed state and no running one printed anything for this long: stop waiting,
# say which. A healthy stage prints its progress bar as it trains, however long it takes.
STALL_SECONDS = 600
RUN_OUTPUT = Path(".dvc/tmp/exps/run")  # DVC's queue: each running task's output, <rev>/*.out
LOST_POLLS = 3  # polls with nothing queued or running while some variant is missing or Unknown


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


def start_queue(jobs):
    """`dvc queue start`, its output through a file: the workers it leaves running inherit it,
    and a pipe they held open would keep whoever reads this command's output waiting for them.
    The workers run `dvc` and the stages' `python` from PATH: this interpreter's come first,
    and TensorFlow on a share of the cores each (variant_env)."""
    with tempfile.TemporaryFile("w+") as output:
        started = subprocess.run(
            dvc_command("queue", "start", "--jobs", str(jobs)),
            env=variant_env(jobs),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        output.seek(0)
        if started.returncode != 0:
            raise UserError(f"`dvc queue start --jobs {jobs}` failed:\n{output.read()}")
        print(output.read(), end="")


def last_output(folder=RUN_OUTPUT):
    """When a task of the queue last printed (the time its output file last changed), or 0."""
    times = [0.0]
    for output in folder.glob("*/*.out"):
        try:
            times.append(output.stat().st_mtime)
        except OSError:  # its task ended and DVC cleaned it up
            pass
    return max(times)


def wait_for(
    tasks,
    bar,
    poll=queue_tasks,
    workers=queue_workers,
    progress=last_output,
    clock=time.monotonic,
    sleep=time.sleep,
):
    """{task id: state} once every one of `tasks` ({task id: name}) has finished. Stops with a
    UserError naming what is left when a task vanished from the queue, or tasks wait or run
    with no worker alive, for LOST_POLLS polls, or when for STALL_SECONDS no state changed (or none
    could be read) and no task printed (`progress`: when one last did)."""
    states, changed, lost_polls = dict.fromkeys(tasks, "unread"), clock(), 0
    printed = progress()
    while True:
        if (latest := progress()) != printed:
            printed, changed = latest, clock()
        if (polled := poll()) is not None:
            now = {task: polled.get(task, (None, "missing"))[1] for task in tasks}
            done = sum(state in FINISHED for state in now.values())
            bar.update(done - bar.n)
            if done == len(tasks):
                return now
            # A task DVC still calls Running with no worker alive was lost with its worker.
            stuck = "missing" in now.values() or not workers()
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
                "gone from the queue, or no worker"
                if lost_polls >= LOST_POLLS
                else "no change and no output"
            )
            raise UserError(
                f"gave up waiting for {', '.join(left)} after {clock() - changed:.0f} s: "
                f"{reason} (see `dvc queue status` and `dvc queue logs NAME`)"
            )
        sleep(POLL_SECONDS)


def failure_log(name):
    """What `dvc queue logs` says of a failed task: the stage's output, or, for a task that
    failed before its stage ran (a full disk while DVC copied the workspace), DVC's own
    message, which it prints on stderr."""
    shown = run_dvc("queue", "logs", name, check=False)
    return (shown.stdout + shown.stderr).strip() or "(empty)"


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
            print(f"study: variant {name} failed; its log:\n{failure_log(name)}")


def stage_dvc_lock():
    """Queued experiments see only what git tracks: without dvc.lock each would recompute the
    features."""
    if subprocess.run(
        ["git", "ls-files", "--error-unmatch", "dvc.lock"], capture_output=True
    ).returncode:
        print("study: staging dvc.lock (git add) so that queued variants reuse the cached stages")
        subprocess.run(["git", "add", "dvc.lock"], check=True)


def others_queued(tasks, names):
    """The names (or task ids) of the queued tasks of `tasks` (queue_tasks) that are none of
    the experiments `names`: what `dvc queue start` would run besides them."""
    return [
        name or task[:7]
        for task, (name, state) in tasks.items()
        if state == "Queued" and name not in names
    ]


def refuse_others_queued(others, allowed):
    """One line naming the tasks queued before the study that are not its own, unless
    `allowed` (--run-others-queued): then they run with it, and it says so."""
    if not others:
        return
    listed = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    if not allowed:
        raise UserError(
            f"DVC's queue holds {len(others)} task(s) that are not this study's ({listed}), and "
            "`dvc queue start` would run them too: run them first (`dvc queue start`), remove "
            "them (`dvc queue remove NAME`), or pass --run-others-queued"
        )
    print(f"study: also running {listed}, queued before the study (--run-others-queued)")


class Queue:
    """Runs variants on this machine's DVC experiment queue, `jobs` at a time, once the shared
    stages are up to date here; with `run_others`, also the tasks queued before that are not
    the study's."""

    def __init__(self, jobs, run_others=False):
        self.jobs, self.run_others = jobs, run_others

    def __enter__(self):
        ready_to_run("queued variants")
        stage_dvc_lock()
        return self

    def __exit__(self, *exception):
        return False

    def run_variants(self, label, runs):
        """Run every one of `runs` (variants.Run) that has not succeeded: queue those with no
        experiment, requeue those that failed before, wait for those an earlier study left
        queued or running."""
        rows = experiment_rows()
        states = experiment_states(rows)
        refuse_stale(runs, succeeded_revs(rows))
        names = [run.name for run in runs]
        refuse_others_queued(others_queued(queue_tasks() or {}, names), self.run_others)
        done = [name for name in names if states.get(name) == "Success"]
        pending = [name for name in names if states.get(name) in ACTIVE]
        print(f"study: {len(runs)} variants in {label}, {len(done)} already run")
        if pending:
            print(f"study: waiting also for {', '.join(pending)}, left queued by an earlier study")
        for run in runs:
            if states.get(run.name) == "Failed":
                print(
                    f"study: {run.name} failed in an earlier study; removing that task, "
                    "rerunning it"
                )
                run_dvc("queue", "remove", run.name)
            if run.name not in done + pending:
                run_dvc("exp", "run", "--queue", "-n", run.name, *run.arguments, *run.targets)
        if to_run := [name for name in names if name not in done]:
            run_queue(to_run, min(self.jobs, len(to_run)))
