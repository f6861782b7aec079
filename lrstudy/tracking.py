"""dvclive, as every stage uses it: where a model's logs live and how its curves read back."""

import csv

from dvclive import Live

from lrstudy.layout import METRICS_DIR


def open_live(directory):
    """A dvclive logger writing into `directory` inside a DVC stage: DVC records the stage, and
    dvc.yaml's top-level `metrics:`/`plots:` show it, so dvclive neither makes an experiment nor
    writes a dvc.yaml of its own."""
    return Live(str(directory), save_dvc_exp=False, dvcyaml=False)


def curve_path(model, split, metric):
    """Where dvclive keeps a model's per-epoch `metric` on `split` ("train" or "eval")."""
    return METRICS_DIR / model / "plots" / "metrics" / split / f"{metric}.tsv"


def parse_curve(tsv_text, column):
    """A dvclive metric history (`step<TAB>column` rows) as (steps, values)."""
    rows = list(csv.DictReader(tsv_text.splitlines(), delimiter="\t"))
    return [int(row["step"]) for row in rows], [float(row[column]) for row in rows]


def read_curve(model, split, metric, rev=None):
    """(epochs, values) of a logged curve: from the workspace, or from the git revision or
    experiment `rev`."""
    path = curve_path(model, split, metric)
    if rev is None:
        return parse_curve(path.read_text(encoding="utf-8"), metric)
    import dvc.api  # only the study reads other revisions; the stages need not load DVC

    return parse_curve(dvc.api.read(path.as_posix(), repo=".", rev=rev), metric)
