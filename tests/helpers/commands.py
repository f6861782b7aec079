"""Commands run as a user would run them: this venv's python and dvc first on PATH."""

import subprocess

from lrstudy.experiments import run_dvc, with_this_python


def stage_env(**extra):
    """The environment the stages run in: this venv's python and dvc first on PATH."""
    return {**with_this_python(), **extra}


def check_ran(result, command, check):
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def run(command, cwd, check=True, **extra_env):
    """Run a command; returns the CompletedProcess with text output."""
    result = subprocess.run(
        command, cwd=cwd, env=stage_env(**extra_env), capture_output=True, text=True
    )
    return check_ran(result, command, check)


def dvc(*args, cwd, check=True, **extra_env):
    result = run_dvc(*args, cwd=cwd, env=stage_env(**extra_env), check=False)
    return check_ran(result, ["dvc", *args], check)


def ran_stages(output):
    """The stages `dvc repro` ran, in order, from its output."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def signalled(process, signum, tries=30):
    """`process`'s standard error once `signum` ended it. A signal that lands between Python's
    check for signals and the start of a blocking read is handled only when the read returns
    (as a second Ctrl-C would show a user), so it is sent again each second until it lands."""
    for _ in range(tries):
        process.send_signal(signum)
        try:
            return process.communicate(timeout=1)[1]
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError(f"still running after {tries} signals {signum}")
