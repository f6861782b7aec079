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
POLL_SECONDS = 5


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


def read_experiment_file(path, rev):
    """The text of a file (its path relative to the repository root) in the git revision or
    experiment `rev`."""
    import dvc.api

    return dvc.api.read(Path(path).as_posix(), repo=".", rev=rev)


def read_experiment_json(path, rev):
    return json.loads(read_experiment_file(path, rev))


def queue_states(names):
    """{experiment: Queued | Running | Success | Failed} from `dvc queue status`."""
    states = {}
    for line in run_dvc("queue", "status").stdout.splitlines():
        words = line.split()  # task id, name, created (two words), status
        if len(words) > 2 and words[1] in names and words[-1] in ("Queued", "Running", *FINISHED):
            states[words[1]] = words[-1]
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


def run_queue(names, jobs):
    """Run the queued experiments `names`, `jobs` at a time, with a progress bar; print the log
    of each that failed. The names of those that succeeded."""
    start_queue(jobs)
    states = {}
    with tqdm(total=len(names), desc="variants", unit="exp") as bar:
        while True:
            states = queue_states(set(names))
            done = sum(state in FINISHED for state in states.values())
            bar.update(done - bar.n)
            if done == len(names):
                break
            time.sleep(POLL_SECONDS)
    for name, state in states.items():
        if state == "Failed":
            log = run_dvc("queue", "logs", name).stdout
            print(f"study: variant {name} failed; its log:\n{log}")
    return [name for name, state in states.items() if state == "Success"]
