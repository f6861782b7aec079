"""dvclive, as every stage uses it: where a model's logs live and how its curves read back."""

import csv

from dvclive import Live

from lrstudy.paths import curve_path


def open_live(directory):
    """A dvclive logger writing into `directory` inside a DVC stage: DVC records the stage, and
    dvc.yaml's top-level `metrics:`/`plots:` show it, so dvclive neither makes an experiment nor
    writes a dvc.yaml of its own."""
    return Live(str(directory), save_dvc_exp=False, dvcyaml=False)


def keep_in_summary(live, figures):
    """Make `figures` the summary (metrics.json) of `live`, beside dvclive's `step`: the
    last epoch's means it gathers on its own are in the curves already."""
    live.summary = {**figures, "step": live.summary["step"]}


def parse_curve(tsv_text, column):
    """A dvclive metric history (`step<TAB>column` rows) as (steps, values)."""
    rows = list(csv.DictReader(tsv_text.splitlines(), delimiter="\t"))
    return [int(row["step"]) for row in rows], [float(row[column]) for row in rows]


def read_curve(model, split, metric):
    """(epochs, values) of a curve logged in the workspace."""
    return parse_curve(curve_path(model, split, metric).read_text(encoding="utf-8"), metric)
