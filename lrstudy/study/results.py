"""A grid's raw results, the only input of its published numbers: its kind, its baseline, what
each variant is (family, optimizer, schedule), every variant's runs on the folds (folds.py:
per head, each test image right or wrong and the validation curves) and the fine-tuned
variant's curves and McNemar counts (a fine-tuning grid: each run's test predictions instead).

The study reads them from its experiments and commits them as metrics/study-<grid>-runs.json;
`python -m lrstudy.study --grid NAME --reanalyse` rebuilds the grid's table, figures and page
blocks from that file alone (each kind's `publish`, through `publish_table` here), so what a
page shows is always what the code computes from it.
"""

import json
import shlex
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import compact_json, inert_html, read_utf8, write_table, write_text
from lrstudy.core.paths import METRICS_DIR, study_table
from lrstudy.pages import update_blocks
from lrstudy.study.regimes import study_command

# What a runs file may hold (each kind's own record in its module): read as input, not trusted.
# Names are those DVC and git accept for an experiment, so no text of a runs file carries markup.
Name = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")]
Count = Annotated[StrictInt, Field(ge=0)]
Number = StrictInt | StrictFloat  # finite: read_results refuses NaN and infinities
Fraction = Annotated[Number, Field(ge=0, le=1)]
Curve = Annotated[list[list[Number]], Field(min_length=2, max_length=2)]  # [epochs, values]


class Record(BaseModel):
    """A part of a runs file: exactly these keys, of exactly these types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class VariantRecord(Record):
    family: Name | None
    optimizer: Name | None = None  # a grid of heads' (the fine-tuning grid's variants have none)
    schedule: dict[Name, Number | StrictBool | Name | None]


class RegimeRecord(Record):
    name: Name
    settings: Annotated[dict[Name, Number | Name], Field(min_length=1)]


class GridRecord(Record):
    """What every kind's runs file holds: `grid` the study's name (regimes.py), with its regime
    where it ran under one."""

    kind: Name
    grid: Name
    regime: RegimeRecord | None = None
    baseline: Name
    variants: Annotated[dict[Name, VariantRecord], Field(min_length=1)]


def runs_file(grid):
    """The runs a grid's table is computed from, beside the table."""
    return METRICS_DIR / f"study-{grid}-runs.json"


def write_results(results):
    write_text(runs_file(results["grid"]), compact_json(results) + "\n")


def refuse_constant(constant):
    raise ValueError(f"{constant} is not a number a runs file holds")


def first_problem(error):
    """One line of a pydantic ValidationError: where in the file (long keys cut short), and
    what; never the value, which may be a whole list."""
    problem = error.errors(include_url=False, include_input=False)[0]
    where, is_key = "", False
    for part in problem["loc"]:
        if part == "[key]":  # the problem is a dict's key, not its value
            is_key = True
        else:
            where += f"[{part[:40]!r}]" if isinstance(part, str) else f"[{part}]"
    return f"{where or 'the top level'}{' (the key)' if is_key else ''}: {problem['msg']}"


def check_record(model, results, path):
    """A UserError with the first problem where `model` (a Record) does not accept `results`."""
    try:
        model.model_validate(results)
    except ValidationError as error:
        raise UserError(
            f"{path} is not a runs file the study wrote: {first_problem(error)}"
        ) from None


def read_results(grid, root=Path(".")):
    """A grid's committed raw results (in the project at `root`), as JSON read them: kinds/
    checks them against the kind's record (`read_kind_results`)."""
    path = Path(root) / runs_file(grid)
    try:
        results = json.loads(read_utf8(path), parse_constant=refuse_constant)
    except FileNotFoundError:
        raise UserError(
            f"{path}: no such file; run the study "
            f"({shlex.join(['python', '-m', 'lrstudy.study', *study_command(grid)])}) "
            "before reanalysing it"
        ) from None
    except ValueError as error:  # JSONDecodeError is one
        raise UserError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(results, dict):
        raise UserError(f"{path} is not a runs file the study wrote: not a JSON object")
    return results


def check_grid(results, grid, path):
    if results["grid"] != grid:
        raise UserError(
            f"{path} holds the runs of the grid {results['grid']!r}, not of {grid!r}: restore "
            f"it (git checkout {shlex.quote(str(runs_file(grid)))}) or run the study again"
        )


def regime_note(regime):
    return (
        f"Regime {regime['name']}: "
        + ", ".join(f"{key} = {value}" for key, value in regime["settings"].items())
        + " for every variant and the baseline (study.yaml's regimes); the rest as params.yaml."
    )


def publish_table(results, rows, notes, verdict, pages):
    """Write the study's table (metrics/study-<grid>.md and .csv, `grid` the study's name in
    `results`: `rows`, then its regime and the paragraphs `notes`) and, into each of `pages`
    that has them, its blocks: the table between <!-- study-GRID:start/end -->, `verdict`
    between <!-- verdict-GRID:start/end -->. Returns the table's Markdown."""
    grid, regime = results["grid"], results.get("regime")
    notes = [regime_note(regime), *notes] if regime else notes
    table = write_table(study_table(grid), rows, notes)
    blocks = {f"study-{grid}": table, f"verdict-{grid}": inert_html(verdict)}
    for page in pages:
        update_blocks(page, blocks)
    return table
