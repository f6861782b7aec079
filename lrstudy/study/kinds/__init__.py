"""The kinds of grid study.yaml holds, one registry entry each.

A kind is a class that knows its grids by their study.yaml entry (`spelled_by`), makes their
variants from a Request when built (checked before anything runs: `runs`, what a shard deals
out), runs them on a runner (`run(runner)`: this machine's queue or Dask's workers, the same
calls; it returns the raw results, which record the kind) and publishes the table, figures and
page blocks from those results alone (`publish(results, settings, pages)`, also what
`--reanalyse` calls); its `Results` (a results.Record) is what its runs file may hold, checked
before anything reads it. A new kind of grid is one module here and one entry below.
"""

from pathlib import Path

from lrstudy.core.errors import UserError
from lrstudy.study.kinds.finetune_schedules import FinetuneGrid
from lrstudy.study.kinds.plain import PlainGrid
from lrstudy.study.kinds.tuned import TunedGrid
from lrstudy.study.results import check_grid, check_record, read_results, runs_file

# The first whose `spelled_by` accepts a grid's entry is its kind: the plain list grid last.
KINDS = {kind.name: kind for kind in (FinetuneGrid, TunedGrid, PlainGrid)}


def kind_of(entry):
    """The kind (its class) of a grid's study.yaml entry."""
    return next(kind for kind in KINDS.values() if kind.spelled_by(entry))


def kind_named(name, where):
    """The kind a runs file records (`where`: the file, for the message)."""
    if not isinstance(name, str) or name not in KINDS:
        shown = repr(name) if isinstance(name, str | None) and len(repr(name)) < 40 else "other"
        raise UserError(
            f"{where} records the kind of grid {shown}; expected one of {', '.join(KINDS)}: "
            "run the study again"
        )
    return KINDS[name]


def read_kind_results(grid, root=Path(".")):
    """(the kind, the raw results) of a grid's committed runs file, once its kind's record
    (`Results`) accepts them and they are `grid`'s: a runs file is input, never trusted."""
    path = Path(root) / runs_file(grid)
    results = read_results(grid, root)
    kind = kind_named(results.get("kind"), path)
    check_record(kind.Results, results, path)
    check_grid(results, grid, path)
    return kind, results
