"""Problems the user can fix are reported as one line, never as a traceback."""

import functools
import sys


class UserError(Exception):
    """Something wrong in the params, the data or the environment that the user can fix."""


def reports_user_errors(main):
    """Wrap a stage's main(): a UserError ends the process with `error: ...` and exit code 1."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(1) from None

    return wrapper
