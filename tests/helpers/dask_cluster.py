"""A real Dask cluster on 127.0.0.1: `dask scheduler` and `dask worker` as separate processes of
this venv, each in a session of its own (killing one kills its nanny, worker and their `dvc`),
all stopped, bounded in time, when the block ends."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.helpers.commands import stage_env

DASK = str(Path(sys.executable).parent / "dask")
START_SECONDS = 60
STOP_SECONDS = 15


def start(command, log):
    with open(log, "w") as output:
        return subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=stage_env(),
            start_new_session=True,
        )


def kill_session(process):
    """SIGKILL to the process and everything it started (its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=STOP_SECONDS)


def stop(process):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        kill_session(process)


def wait_for_workers(address, count):
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(count, timeout=START_SECONDS)


def scheduler_address(scheduler_file):
    """The address the scheduler wrote into its file once it listens."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            return json.loads(scheduler_file.read_text())["address"]
        time.sleep(0.2)
    raise AssertionError(f"no Dask scheduler wrote {scheduler_file} in {START_SECONDS} s")


@contextlib.contextmanager
def local_cluster(folder, workers=2):
    """(the scheduler's address, [worker processes]) of a scheduler and `workers` one-thread
    workers on 127.0.0.1, each worker with its own local directory under `folder`."""
    folder.mkdir()
    scheduler_file = folder / "scheduler.json"
    processes = [
        start(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(scheduler_file)],
            folder / "scheduler.log",
        )
    ]
    try:
        address = scheduler_address(scheduler_file)
        for index in range(1, workers + 1):
            worker = [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1"]
            worker += ["--no-dashboard", "--local-directory", str(folder / f"worker{index}")]
            processes.append(start(worker, folder / f"worker{index}.log"))
        wait_for_workers(address, workers)
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            stop(process)


def wait_until_running(process, words, timeout):
    """Whether a descendant of `process` runs a command line with all of `words`, within
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    if all(word in child.cmdline() for word in words):
                        return True
        time.sleep(0.5)
    return False
