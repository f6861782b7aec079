"""Processes that must not outlive their run: the study stops on SIGINT and SIGTERM wherever it
was started, and a stage sees a zombie DVC as gone."""

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from lrstudy.core.stage import alive
from tests.helpers.commands import signalled, stage_env
from tests.helpers.sandbox import REPO_ROOT


def ignoring_sigint():
    """What `nohup ... &` and many CI runners leave a job: SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pipe_writer(pipe, reader, timeout=60):
    """The write end of the named pipe `pipe`, once the process `reader` opened it to read."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            assert reader.poll() is None and time.monotonic() < deadline, "never read the pipe"
            time.sleep(0.1)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_study_started_in_the_background_stops_on_a_signal_and_says_so(tmp_path, signum, code):
    for name in ("params.yaml", "study.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "metrics").mkdir()
    runs = tmp_path / "metrics" / "study-reference-runs.json"
    os.mkfifo(runs)  # a named pipe: the study's read of it waits for what is never written
    study = subprocess.Popen(
        [sys.executable, "-m", "lrstudy.study", "--grid", "reference", "--reanalyse"],
        cwd=tmp_path,
        env=stage_env(),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignoring_sigint,
    )
    try:
        # Opening the pipe's other end returns once the study opened it to read: by then its
        # handlers are in place, and its read waits.
        writer = pipe_writer(runs, study)
        errors = signalled(study, signum)
        os.close(writer)
    finally:
        study.kill()
        study.wait()
    assert study.returncode == code
    assert errors.startswith("interrupted: the study stopped; the variants that finished are ")


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    process = psutil.Process(child.pid)
    assert alive(process)
    child.kill()  # not waited for: its parent (this test) holds it as a zombie
    deadline = time.monotonic() + 10
    while process.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.is_running() and not alive(process)  # psutil alone calls it running
    child.wait()
    assert not alive(process)
