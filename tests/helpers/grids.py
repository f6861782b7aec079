"""A study grid as the command builds it: its kind, made from a Request on a study.yaml."""

from lrstudy.study.grids import Request, grid_entry
from lrstudy.study.kinds import kind_of
from tests.helpers.sandbox import REPO_ROOT, committed_config


def study_grid(grid, path=REPO_ROOT / "study.yaml", config=None, trials=None):
    """The kind of `grid` in the study.yaml at `path`, built for params.yaml's Config (or
    `config`): its variants checked, as `python -m lrstudy.study --grid GRID` builds them."""
    entry = grid_entry(grid, path)
    request = Request(grid, entry, config or committed_config(), path, trials=trials)
    return kind_of(entry)(request)


def record(schedule, optimizer="adam", family=None, **values):
    """A variant's record as the runs file keeps it (results.py)."""
    return {
        "family": schedule if family is None else family,
        "optimizer": optimizer,
        "schedule": {"name": schedule, **values},
    }
