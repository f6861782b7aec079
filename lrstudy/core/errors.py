"""Problems the user can fix are reported as one line, never as a traceback."""

import contextlib
import errno
import functools
import inspect
import sys
from pathlib import Path


class UserError(Exception):
    """Something wrong in the params, the data or the environment that the user can fix."""


@contextlib.contextmanager
def reports_full_disk(doing):
    """A full disk inside the block (ENOSPC) as one UserError saying what was being written."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise UserError(f"no space left on disk {doing}: free space there") from None


def stage_interrupted(main):
    stage = Path(inspect.unwrap(main).__code__.co_filename).stem
    return (
        f"interrupted: {stage} stopped and wrote no finished output. Run `dvc repro` to finish "
        "it (fine-tuning resumes from its last completed epoch)."
    )


def reports_user_errors(main, interrupted=stage_interrupted):
    """Wrap a command's main(): a UserError ends the process with `error: ...` and exit code 1;
    Ctrl-C (SIGINT) with one line saying how to go on (`interrupted(main)`; a stage's by
    default) and exit code 130, as shells expect."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            print(interrupted(main), file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper
