"""Problems the user can fix are reported as one line, never as a traceback."""

import contextlib
import errno
import functools
import importlib
import inspect
import re
import signal
import sys
from pathlib import Path


class UserError(Exception):
    """Something wrong in the params, the data or the environment that the user can fix."""


CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")  # https://user:token@host/... -> https://***@host


def redacted(text):
    """`text` with the credentials of every URL in it (user and password or token) masked, as
    git masks them: a line the project prints may be pasted into an issue."""
    return CREDENTIALS.sub("***@", text)


def import_extra(module, extra, needed_by):
    """`module`, which comes with pyproject.toml's extra `extra`; where it is not installed, one
    UserError saying what `needed_by` it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"{needed_by} needs {module}, which is not installed: pip install "
            f"'lrstudy[{extra}]' (`make setup` installs every extra)"
        ) from None


@contextlib.contextmanager
def reports_full_disk(doing):
    """A full disk inside the block (ENOSPC) as one UserError saying what was being written."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise UserError(f"no space left on disk {doing}: free space there") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM: the process stops as Ctrl-C stops it, and says so."""


def raise_terminated(signum, frame):
    raise Terminated


@contextlib.contextmanager
def stop_signals():
    """Inside the block, Ctrl-C (SIGINT) and SIGTERM end the process through
    reports_user_errors; the handlers before it come back after it. A job started in the
    background (`nohup ... &`, a CI runner) inherits SIGINT ignored, and Python then leaves it
    so: its own handler makes SIGINT stop it wherever it was started."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def stage_interrupted(main):
    stage = Path(inspect.unwrap(main).__code__.co_filename).stem
    return (
        f"interrupted: {stage} stopped and wrote no finished output. Run `dvc repro` to finish "
        "it (fine-tuning resumes from its last completed epoch)."
    )


def reports_user_errors(main, interrupted=stage_interrupted):
    """Wrap a command's main(): a UserError ends the process with `error: ...` and exit code 1;
    Ctrl-C (SIGINT) or SIGTERM (stop_signals) with one line saying how to go on
    (`interrupted(main)`; a stage's by default) and exit code 130 or 143, as shells expect."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {redacted(str(error))}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt as stop:
            print(interrupted(main), file=sys.stderr)
            raise SystemExit(143 if isinstance(stop, Terminated) else 130) from None

    return wrapper
