"""What a study on Dask checks before it sends a single task, all real: git, a bare repository
for the git server, DVC with a folder remote, a one-stage pipeline (`baseline`, the stage every
variant starts from). Each check fails with one line saying what to do, in the order a user
meets them, and passes once that is done. The tasks themselves run in tests/test_sharing.py."""

import socket
import subprocess

import pytest

from lrstudy.core.errors import UserError, redacted
from lrstudy.study.cluster import Origin, check_ready, connect, remote_experiments
from tests.helpers.commands import dvc, run

PIPELINE = """
stages:
  baseline:
    cmd: python -c "open('model.txt', 'w').write('a head')"
    deps: [params.yaml]
    outs: [model.txt]
"""


def git(*args, cwd):
    return run(["git", *args], cwd).stdout.strip()


@pytest.fixture
def driver(tmp_path, monkeypatch):
    """A committed one-stage DVC project that ran, with no git remote yet; the current folder."""
    root = tmp_path / "driver"
    root.mkdir()
    git("init", "-q", cwd=root)
    dvc("init", "-q", cwd=root)
    (root / "dvc.yaml").write_text(PIPELINE)
    (root / "params.yaml").write_text("head: {epochs: 1}\n")
    dvc("repro", cwd=root)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "the pipeline", cwd=root)
    monkeypatch.chdir(root)
    return root


def refused(git_remote="origin"):
    with pytest.raises(UserError) as error:
        check_ready(git_remote)
    return str(error.value)


def test_each_check_names_what_to_do_and_passes_once_it_is_done(driver, tmp_path):
    assert refused() == "no git remote 'origin': add one (git remote add) or name yours"
    server = tmp_path / "server.git"
    subprocess.run(["git", "init", "-q", "--bare", str(server)], check=True)
    git("remote", "add", "origin", "../server.git", cwd=driver)  # workers get it absolute

    (driver / "params.yaml").write_text("head: {epochs: 2}\n")
    assert refused() == (
        "the workers run the commit, not your uncommitted params.yaml: commit them"
    )
    git("commit", "-qam", "two epochs", cwd=driver)

    assert refused() == "HEAD is not on origin: push it (git push origin HEAD)"
    git("push", "-q", "origin", "HEAD:main", cwd=driver)

    no_default_remote = (
        "the committed .dvc/config names no default DVC remote (a --local one does not reach "
        "the workers): dvc remote add -d NAME URL, then commit and push .dvc/config"
    )
    assert refused() == no_default_remote
    dvc("remote", "add", "--local", "-d", "mine", str(tmp_path / "dvc-remote"), cwd=driver)
    assert refused() == no_default_remote
    dvc("remote", "remove", "--local", "mine", cwd=driver)
    dvc("remote", "add", "-d", "shared", str(tmp_path / "dvc-remote"), cwd=driver)
    git("commit", "-qam", "the shared DVC remote", cwd=driver)
    git("push", "-q", "origin", "HEAD:main", cwd=driver)

    dvc("repro", cwd=driver)
    git("commit", "-qam", "the run", cwd=driver)
    git("push", "-q", "origin", "HEAD:main", cwd=driver)
    # A folder remote that is not there (an unmounted share) is not created by a push.
    assert refused() == (
        f"the DVC remote 'shared' is the folder {tmp_path / 'dvc-remote'}, which does not "
        "exist: mount it, or create it if it is new"
    )
    (tmp_path / "dvc-remote").mkdir()
    assert refused() == (
        "1 outputs of baseline and its upstream stages are not on the DVC remote 'shared' "
        "(e.g. model.txt): dvc repro baseline, dvc push, then again"
    )
    dvc("push", cwd=driver)
    assert check_ready("origin") == Origin(str(server), git("rev-parse", "HEAD", cwd=driver))


def test_an_unreachable_git_remote_is_one_line_without_its_credentials():
    origin = Origin("https://lrstudy:s3cret-token@127.0.0.1:9/study.git", "0" * 40)
    with pytest.raises(UserError) as error:
        remote_experiments(origin)
    line = str(error.value)
    assert line.startswith("cannot reach the git remote https://") and "s3cret" not in redacted(
        line
    )
    assert redacted(line).startswith("cannot reach the git remote https://***@127.0.0.1:9/")
    assert line.endswith(
        "; the variants pushed so far are kept: run the study again once it is back"
    )


def test_a_scheduler_nobody_runs_is_one_line():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(UserError) as error:
        connect(address, timeout="2s")
    assert str(error.value).startswith(f"cannot reach the Dask scheduler at {address}: ")
    assert str(error.value).endswith("; start one (docs/sharing.md)")
