"""The study's runner and grid file: experiment states as `dvc.api.exp_show` reports them, the
wait for the queue that always ends, and study.yaml's one-line errors. The same runner against
the real DVC queue: tests/test_study.py."""

import pytest
from tqdm import tqdm

from lrstudy.errors import UserError
from lrstudy.study.grid import load_grid
from lrstudy.study.runner import (
    LOST_POLLS,
    POLL_SECONDS,
    STALL_SECONDS,
    experiment_states,
    wait_for,
)

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


def wait(names, row_lists):
    """wait_for over successive polls' rows (the last repeats); (result, polls taken)."""
    clock, polls = Clock(), []

    def rows():
        polls.append(clock.now)
        return row_lists[min(len(polls), len(row_lists)) - 1]

    with tqdm(total=len(names), disable=True) as bar:
        return wait_for(names, bar, rows=rows, clock=clock, sleep=clock.sleep), len(polls)


def test_the_wait_ends_when_every_variant_finished():
    polls = [
        [row("a", "Queued"), row("b", "Queued")],
        [row("a", "Running"), row("b", "Queued")],
        [row("a"), row("b", "Failed")],
    ]
    assert wait(["a", "b"], polls) == ({"a": "Success", "b": "Failed"}, 3)


def test_a_task_that_vanished_or_is_unknown_ends_the_wait_with_one_line():
    polls = [[row("a", "Running"), row("b", "Queued")], [row("a"), row("b", "Odd")]]
    with pytest.raises(UserError, match=r"gave up waiting for b \(Unknown\).*nothing is queued"):
        wait(["a", "b"], polls)
    with pytest.raises(UserError, match=r"gave up waiting for b \(missing\)"):
        wait(["a", "b"], [[row("a")]])
    assert LOST_POLLS >= 2  # a task between two states for one poll is not lost


def test_a_poll_dvc_cannot_read_is_skipped_and_unreadable_ones_hit_the_stall_limit():
    polls = [[row("a", "Running")], None, [row("a")]]
    assert wait(["a"], polls) == ({"a": "Success"}, 3)
    with pytest.raises(UserError, match=r"gave up waiting for a \(unread\) after \d+ s"):
        wait(["a"], [None])


def test_a_queue_that_never_moves_ends_the_wait_after_the_stall_limit():
    with pytest.raises(
        UserError, match=r"gave up waiting for a \(Running\) after \d+ s: no change"
    ):
        wait(["a"], [[row("a", "Running")]])
    slow = STALL_SECONDS // POLL_SECONDS - 1  # one variant running just under the limit
    polls = [[row("a", "Running")]] * slow + [[row("a")]]
    assert wait(["a"], polls) == ({"a": "Success"}, slow + 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"study.yaml: no such file; it holds the study's grids"),
        ("", r"study.yaml has no grids: it should be a mapping of grid names"),
        ("g: [unclosed\n", r"study.yaml is not valid YAML at line 2: "),
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
        ("g:\n  sgdr:\n    - {initial_lr: 0.1}\n", r"schedule.name"),
    ],
)
def test_a_bad_grid_file_is_one_line_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "study.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        load_grid("g", 50, path)
    assert "\n" not in str(error.value)
