"""Reading params.yaml and checking each value before any heavy work starts.

Every check names the key, the bad value and what is allowed. Numbers are accepted as
strings too, because `dvc exp run -S schedule.initial_lr=1e-05` writes `1e-05`, which
PyYAML reads as a string.
"""

import functools
import math
from pathlib import Path

import yaml

from lrstudy.errors import UserError, reports_user_errors

PARAMS_FILE = Path("params.yaml")
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's random seeds are 32-bit


class ParamError(UserError):
    def __init__(self, key, value, allowed):
        super().__init__(f"params.yaml: {key} = {value!r} is not allowed; expected {allowed}")


def load_params(path=PARAMS_FILE):
    try:
        with open(path, encoding="utf-8") as file:
            params = yaml.safe_load(file)
    except FileNotFoundError:
        raise UserError(f"no {path} here: run the stages from the repository root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path} must map groups (data, split, model, ...) to their values")
    return params


def lookup(params, key):
    """The value at a dotted key such as "schedule.k"."""
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"params.yaml: {key} is missing")
        value = value[part]
    return value


def number(params, key, *, minimum=None, maximum=None, above=None, integer=False):
    """A float (or int) at `key`, within the given bounds."""
    value = lookup(params, key)
    kind = "an integer" if integer else "a number"
    bounds = [
        f">= {minimum}" if minimum is not None else None,
        f"> {above}" if above is not None else None,
        f"<= {maximum}" if maximum is not None else None,
    ]
    allowed = " ".join([kind] + [b for b in bounds if b])
    try:
        parsed = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise ParamError(key, value, allowed) from None
    if not math.isfinite(parsed) or (integer and not parsed.is_integer()):
        raise ParamError(key, value, allowed)
    if (
        (minimum is not None and parsed < minimum)
        or (above is not None and parsed <= above)
        or (maximum is not None and parsed > maximum)
    ):
        raise ParamError(key, value, allowed)
    return int(parsed) if integer else parsed


def choice(params, key, options):
    value = lookup(params, key)
    if value not in options:
        raise ParamError(key, value, "one of " + ", ".join(options))
    return value


def flag(params, key):
    value = lookup(params, key)
    if not isinstance(value, bool):
        raise ParamError(key, value, "true or false")
    return value


def text(params, key):
    value = lookup(params, key)
    if not isinstance(value, str) or not value.strip():
        raise ParamError(key, value, "a non-empty string")
    return value


def leaf_keys(nested, prefix=""):
    """The dotted keys of the values in a nested mapping: {"a": {"b": 1}} -> ["a.b"]."""
    keys = []
    for key, value in nested.items():
        keys += leaf_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [prefix + key]
    return keys


def changed_params(keys, earlier, now):
    """Those of the dotted `keys` whose value differs between two readings of params.yaml."""
    missing = object()

    def value_at(params, key):
        for part in key.split("."):
            if not isinstance(params, dict) or part not in params:
                return missing
            params = params[part]
        return params

    return [key for key in keys if value_at(earlier, key) != value_at(now, key)]


def refuse_changed_params(stage, earlier_text):
    """A UserError if the params `stage` declares in dvc.yaml changed since params.yaml read
    `earlier_text`: DVC records the values it finds once the stage ends, so a second
    `dvc exp run` in the same workspace would pair this run's outputs with its own params."""
    now_text = PARAMS_FILE.read_text(encoding="utf-8") if PARAMS_FILE.exists() else ""
    if now_text == earlier_text:
        return
    import dvc.api  # only now: it takes most of a second to import

    try:
        keys = leaf_keys(dvc.api.params_show(stages=[stage]))
        changed = changed_params(keys, yaml.safe_load(earlier_text), yaml.safe_load(now_text))
    except Exception:  # params.yaml gone or no longer valid: changed all the same
        changed = ["its values"]
    if changed:
        raise UserError(
            f"{PARAMS_FILE} changed while {stage} ran ({', '.join(changed)}), by hand or by "
            "another `dvc exp run` in this workspace, so its outputs are not recorded. Run "
            "experiments one at a time, or queue them: `dvc exp run --queue -S ...`, then "
            "`dvc exp run --run-all`"
        )


def stage_main(main):
    """A stage's main(): user errors as one line (reports_user_errors), and refused (exit 1)
    when the params it declares change while it runs. The stage is named by its file."""
    stage = Path(main.__code__.co_filename).stem

    @functools.wraps(main)
    def guarded(*args, **kwargs):
        earlier_text = PARAMS_FILE.read_text(encoding="utf-8") if PARAMS_FILE.exists() else ""
        result = main(*args, **kwargs)
        refuse_changed_params(stage, earlier_text)
        return result

    return reports_user_errors(guarded)
