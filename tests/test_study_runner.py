"""The study's queue and grid file: experiment states as `dvc.api.exp_show` reports them, the
wait for the queue's tasks that always ends, and study.yaml's one-line errors. The same queue
against the real DVC queue: tests/test_study.py."""

import argparse
import os
import shutil
import sys

import pytest
from dvc.exceptions import NotDvcRepoError
from tqdm import tqdm

from lrstudy.core.errors import UserError
from lrstudy.experiments import experiment_rows, experiment_states
from lrstudy.study.cli import reports_study_errors
from lrstudy.study.grids import shard_of
from lrstudy.study.options import arguments, job_count, shard
from lrstudy.study.queue import (
    LOST_POLLS,
    POLL_SECONDS,
    STALL_SECONDS,
    others_queued,
    refuse_others_queued,
    wait_for,
)
from tests.helpers.commands import run
from tests.helpers.grids import study_grid
from tests.helpers.sandbox import REPO_ROOT

BASELINE_ROW = {"Experiment": None, "rev": "workspace", "typ": "baseline", "State": None}


def row(name, state=None):
    """A row of dvc.api.exp_show: finished experiments carry no State, queue tasks theirs."""
    return {"Experiment": name, "rev": "abc1234", "typ": "branch_commit", "State": state}


def test_states_come_from_every_row_and_a_rerun_outranks_an_old_failure():
    rows = [
        BASELINE_ROW,
        row("done"),
        row("done-in-queue", "Success"),
        row("waiting", "Queued"),
        row("broken", "Failed"),
        row("rerun", "Failed"),
        row("rerun", "Running"),
        row("odd", "Unexpected"),
    ]
    assert experiment_states(rows) == {
        "done": "Success",
        "done-in-queue": "Success",
        "waiting": "Queued",
        "broken": "Failed",
        "rerun": "Running",
        "odd": "Unknown",
    }


class Clock:
    """Time that passes only when the wait sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def wait(tasks, polls, workers=1, printing=False):
    """wait_for on `tasks` ({task id: name}) over successive polls of the queue ({task id:
    (name, state)}, or None when unreadable; the last repeats), with a task printing at every
    poll or never; (result, polls taken)."""
    clock, taken = Clock(), []

    def poll():
        taken.append(clock.now)
        return polls[min(len(taken), len(polls)) - 1]

    with tqdm(total=len(tasks), disable=True) as bar:
        result = wait_for(
            tasks,
            bar,
            poll=poll,
            workers=lambda: workers,
            progress=lambda: clock.now if printing else 0.0,
            clock=clock,
            sleep=clock.sleep,
        )
    return result, len(taken)


TASKS = {"t1": "a", "t2": "b"}


def test_the_wait_ends_when_every_task_finished_and_follows_tasks_not_names():
    polls = [
        {"t1": ("a", "Queued"), "t2": ("b", "Queued"), "old": ("b", "Success")},
        {"t1": ("a", "Running"), "t2": ("b", "Queued"), "old": ("b", "Success")},
        {"t1": ("a", "Success"), "t2": ("b", "Failed"), "old": ("b", "Success")},
    ]
    assert wait(TASKS, polls) == ({"t1": "Success", "t2": "Failed"}, 3)


def test_only_queued_tasks_not_the_studys_are_others_and_they_run_only_when_allowed(capsys):
    tasks = {
        "a" * 40: ("fixed-lr0.001", "Queued"),  # the study's own, left by an earlier one
        "b" * 40: ("mine", "Queued"),
        "c" * 40: (None, "Queued"),  # a task DVC has not named yet: its id
        "d" * 40: ("done", "Success"),
        "e" * 40: ("busy", "Running"),  # a worker runs it already
    }
    others = others_queued(tasks, ["fixed-lr0.001", "exp-lr0.01-k0.3"])
    assert others == ["mine", "ccccccc"]
    with pytest.raises(UserError, match=r"^DVC's queue holds 2 task\(s\) that are not this "):
        refuse_others_queued(others, allowed=False)
    refuse_others_queued(others, allowed=True)
    assert capsys.readouterr().out == (
        "study: also running mine, ccccccc, queued before the study (--run-others-queued)\n"
    )
    refuse_others_queued([], allowed=False)  # nothing else queued: nothing said


def test_running_others_queued_tasks_is_asked_of_the_queue_only(capsys):
    assert arguments(["--queue", "--run-others-queued"]).run_others_queued
    with pytest.raises(SystemExit):
        arguments(["--run-others-queued"])
    assert capsys.readouterr().err.endswith(
        "error: --run-others-queued is for --queue: only DVC's queue runs others' tasks\n"
    )


def test_a_task_gone_from_the_queue_or_left_without_workers_ends_the_wait():
    gone = [{"t1": ("a", "Running"), "t2": ("b", "Queued")}, {"t1": ("a", "Running")}]
    with pytest.raises(UserError, match=r"gave up waiting for a \(Running\), b \(missing\)"):
        wait(TASKS, gone)
    orphaned = [{"t1": ("a", "Success"), "t2": ("b", "Queued")}]
    with pytest.raises(UserError, match=r"b \(Queued\) after \d+ s: gone from the queue, or no"):
        wait(TASKS, orphaned, workers=0)
    # DVC's queue can lose a task with its worker and go on calling it Running (seen in the
    # bench): with no worker alive it is as lost as a queued one.
    lost = [{"t1": ("a", "Success"), "t2": ("b", "Running")}]
    with pytest.raises(UserError, match=r"b \(Running\) after \d+ s: gone from the queue, or no"):
        wait(TASKS, lost, workers=0)
    assert LOST_POLLS >= 2  # a task between two states for one poll is not lost


def test_an_unreadable_poll_is_skipped_and_unreadable_ones_hit_the_stall_limit():
    polls = [{"t1": ("a", "Running")}, None, {"t1": ("a", "Success")}]
    assert wait({"t1": "a"}, polls) == ({"t1": "Success"}, 3)
    with pytest.raises(UserError, match=r"gave up waiting for a \(unread\) after \d+ s"):
        wait({"t1": "a"}, [None])


def test_a_queue_that_never_moves_ends_the_wait_after_the_stall_limit():
    with pytest.raises(UserError, match=r"a \(Running\) after \d+ s: no change and no output"):
        wait({"t1": "a"}, [{"t1": ("a", "Running")}])
    # A variant that prints as it trains is waited for however long it runs.
    hours = 3 * 3600 // POLL_SECONDS
    polls = [{"t1": ("a", "Running")}] * hours + [{"t1": ("a", "Success")}]
    assert wait({"t1": "a"}, polls, printing=True) == ({"t1": "Success"}, hours + 1)
    slow = STALL_SECONDS // POLL_SECONDS - 1  # one task running just under the limit
    polls = [{"t1": ("a", "Running")}] * slow + [{"t1": ("a", "Success")}]
    assert wait({"t1": "a"}, polls) == ({"t1": "Success"}, slow + 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"study.yaml: no such file; it holds the study's grids"),
        ("", r"study.yaml has no grids: it should be a mapping of grid names"),
        ("g: [unclosed\n", r"study.yaml is not valid YAML: line 2: "),
        ("a: &a [1, 1]\ng: [*a, *a]\n", r"study.yaml is not valid YAML: line 2: an alias"),
        ("g: {fixed: []}\ng: {exp: []}\n", r"study.yaml is not valid YAML: line 2: 'g' written"),
        (b"g: {fixed: [{initial_lr: 0.1}]} # \xff\n", r"study.yaml is not UTF-8 text \(byte 34\)"),
        ("- a list\n", r"study.yaml has no grids"),
        ("g: 3\n", r"grid 'g' should map schedule names to lists of settings"),
        ("g:\n  exp: {k: 1}\n", r"g.exp should be a list of \{key: value\}"),
        (
            "g:\n  exp:\n    - {initial_lr: 0.01, k: 0.3, kk: 1}\n",
            r"g.exp variant .* has unknown key kk; exp takes initial_lr, k",
        ),
        (
            "g:\n  fixed:\n    - {initial_lr: 0.001}\n    - {initial_lr: 0.0010000001}\n",
            r"g.fixed variants \{'initial_lr': 0.001\} and \{'initial_lr': 0.0010000001\} "
            r"share the name fixed-lr0.001",
        ),
        ("g:\n  sgdr:\n    - {initial_lr: 0.1}\n", r"g.sgdr is no schedule; expected one of fixed"),
    ],
)
def test_a_bad_grid_file_is_one_line_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "study.yaml"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UserError, match=message) as error:
        study_grid("g", path)
    assert "\n" not in str(error.value)


def test_jobs_are_a_positive_number_or_one_per_core():
    assert job_count("auto") == os.cpu_count() and job_count("3") == 3
    for text in ("0", "-1", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not a positive number, nor auto"):
            job_count(text)


def test_a_shard_is_i_of_n_and_the_shards_deal_out_the_grid_once():
    assert shard("1/2") == (1, 2) and shard("3/3") == (3, 3)
    for text in ("0/2", "3/2", "1", "a/b", "1/0", "-1/2"):
        with pytest.raises(argparse.ArgumentTypeError, match="is not i/n with 1 <= i <= n"):
            shard(text)
    grid = [f"variant{index}" for index in range(18)]
    for count in (1, 2, 4, 7, 18, 20):
        shares = [shard_of(grid, index, count) for index in range(1, count + 1)]
        assert sorted(name for share in shares for name in share) == sorted(grid)
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_reading_the_experiments_rides_out_a_queue_that_changes_under_it():
    calls = []

    def flaky():  # as dvc.api.exp_show while queued tasks' temporary copies come and go
        calls.append(1)
        if len(calls) < 3:
            raise NotDvcRepoError("'/tmp/tmpab12' is not a DVC repository")
        return [{"Experiment": "a"}]

    assert experiment_rows(read=flaky, pause=0) == [{"Experiment": "a"}]
    assert len(calls) == 3


def test_an_experiment_table_that_never_reads_is_one_line():
    def broken():
        raise NotDvcRepoError("'/tmp/tmpab12' is not a DVC repository")

    with pytest.raises(
        UserError,
        match=r"^cannot read the experiments \(`dvc exp show`\) in 5 tries: '/tmp/tmpab12' is not",
    ):
        experiment_rows(read=broken, pause=0)


def test_an_interrupted_study_names_the_command_that_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["lrstudy/study/__main__.py", "--grid", "modern"])

    def interrupted(argv=None):
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        reports_study_errors(interrupted)()
    assert stopped.value.code == 130
    assert capsys.readouterr().err.strip() == (
        "interrupted: the study stopped; the variants that finished are kept. Run "
        "`python -m lrstudy.study --grid modern` again to go on."
    )


@pytest.mark.parametrize(
    "grids, pages, line",
    [
        (
            "g:\n  fixed:\n    - {initial_lr: 0.1}\n",
            ["missing.md"],
            "error: --page missing.md: no such file",
        ),
        (
            "g:\n  fixed:\n    - {initial_lr: 0.1}\n",
            ["page.md"],
            "error: --page page.md: no block study-g or verdict-g to write the study into",
        ),
        ("g:\n  fixed: []\n", [], "error: study.yaml: grid 'g' is empty: it holds no variant"),
    ],
)
def test_a_study_that_cannot_end_well_is_refused_before_it_starts(tmp_path, grids, pages, line):
    shutil.copyfile(REPO_ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "study.yaml").write_text(grids)
    (tmp_path / "page.md").write_text("# no marked block here\n")
    arguments = [arg for page in pages for arg in ("--page", page)]
    command = [sys.executable, "-m", "lrstudy.study", "--grid", "g", *arguments]
    result = run(command, tmp_path, check=False, PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]
