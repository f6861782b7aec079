"""`make compare`: HEAD and each of its experiments in one table that fits a 120-column terminal.

    python -m tools.compare

From `dvc exp show --json`, one row per experiment: its name; the params in which it differs
from HEAD (schedule params by their short names, as variant names spell them); the scheduled
head's (stage `train`) and the baseline's final validation accuracy, mean ± std over seeds; the
fine-tuned model's test accuracy where the experiment ran fine-tuning; and the Benjamini-Hochberg
adjusted p against the baseline (params.yaml's `baseline.lr` with its `train.optimizer`, named as
the study names it) where a committed study (metrics/study-*.csv) tested a variant of that name.
Best scheduled head first, HEAD on top.
"""

import argparse
import csv
import json
import textwrap

from lrstudy.core.config import parse_group
from lrstudy.core.errors import reports_user_errors
from lrstudy.core.paths import METRICS_DIR, model_file, summary_file
from lrstudy.core.schedules import PARAMS, SCHEDULES
from lrstudy.experiments import run_dvc

WIDTH = 120
HEADERS = ("experiment", "differs from HEAD", "scheduled", "baseline", "fine-tuned", "p (BH)")
NOTE = (
    "scheduled, baseline: final validation accuracy (%), mean ± std over seeds; fine-tuned: test "
    "accuracy (%), where the experiment ran fine-tuning; p (BH): its study's adjusted p against "
    "the baseline, {baseline}"
)


def revisions(shown):
    """[(name, data)] of HEAD and its experiments from `dvc exp show --json`."""
    head = next(commit for commit in shown if commit["rev"] != "workspace")
    rows = [("HEAD", head["data"])]
    for experiment in head.get("experiments") or []:
        rev = experiment["revs"][0]
        rows.append((experiment.get("name") or rev["rev"][:7], rev["data"]))
    return rows


def baseline_name(data):
    """The baseline of an experiment's params.yaml, as the study names it: fixed-lr0.001."""
    params = data["params"]["params.yaml"]["data"]
    train, baseline = (parse_group(group, params[group]) for group in ("train", "baseline"))
    return train.variant_name(baseline.schedule)


def flat_params(data):
    """{group.key: value} of an experiment's params.yaml."""
    params = data["params"]["params.yaml"]["data"]
    return {
        f"{group}.{key}": value for group, values in params.items() for key, value in values.items()
    }


def metric(data, stage, *keys):
    value = data["metrics"].get(summary_file(stage).as_posix(), {}).get("data", {})
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def evaluated(data):
    """Whether an experiment's fine-tuning and evaluation are its own: `finetune` recorded
    reading the scheduled head its `train` wrote (one that stopped at `train` carries an older
    fine-tuning and evaluation)."""
    path = model_file("scheduled").as_posix()
    return data["deps"][path]["hash"] == data["outs"][path]["hash"]


def differences(params, head):
    """The params in which an experiment differs from HEAD: the schedule first, as variant names
    spell it (`step lr0.1 every3`), then the others as `group.key=value`."""
    changed = {key: value for key, value in params.items() if head.get(key) != value}
    family = params["schedule.name"]
    shorts = {
        f"schedule.{key}": PARAMS[key].short
        for key in SCHEDULES.get(family, SCHEDULES["fixed"]).params
    }
    schedule = [family] if "schedule.name" in changed else []
    schedule += [f"{shorts[key]}{number(value)}" for key, value in changed.items() if key in shorts]
    others = [f"{key}={value}" for key, value in changed.items() if not key.startswith("schedule.")]
    return " ".join(schedule + others)


def number(value):
    """1e-05 as 1e-05, 0.3 as 0.3: as variant names write it (`dvc exp run -S` may give text)."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def accuracy(summary):
    if not isinstance(summary, dict) or summary.get("mean") is None:
        return ""
    std = f"±{100 * summary['std']:.2f}" if summary.get("std") is not None else ""
    return f"{100 * summary['mean']:.2f}{std}"


def study_p_values():
    """{variant: adjusted p} of the committed studies' per-variant tables of heads (a tuned
    grid's table has a row per family, judged on another split, and a fine-tuning grid's tests
    fine-tuning runs: they give none)."""
    values = {}
    for table in sorted(METRICS_DIR.glob("study-*.csv")):
        with open(table, newline="", encoding="utf-8") as file:
            rows = csv.DictReader(file)
            if {"variant", "p (BH)"} <= set(rows.fieldnames):
                values.update({row["variant"]: row["p (BH)"] for row in rows})
    return values


def table_rows(shown):
    rows = revisions(shown)
    head_params, p_values = flat_params(rows[0][1]), study_p_values()
    lines = []
    for name, data in rows:
        finetuned = (
            metric(data, "evaluate", "finetuned", "test_accuracy") if evaluated(data) else None
        )
        lines.append(
            (
                name,
                differences(flat_params(data), head_params),
                accuracy(metric(data, "train", "final_val_accuracy")),
                accuracy(metric(data, "baseline", "final_val_accuracy")),
                f"{100 * finetuned:.2f}" if finetuned is not None else "",
                p_values.get(name.removesuffix("-finetuned"), "") if name != "HEAD" else "",
            )
        )
    head, *experiments = lines
    return [head, *sorted(experiments, key=lambda row: row[2], reverse=True)]


def render(rows):
    """Aligned columns; the two text columns are cut (…) where the table would pass WIDTH."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(HEADERS, *rows, strict=True)]
    excess = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    for index in (1, 0):  # first the differences, then the names
        cut = min(max(excess, 0), widths[index] - len(HEADERS[index]))
        widths[index] -= cut
        excess -= cut

    def line(cells):
        fitted = [
            cell if len(cell) <= width else cell[: width - 1] + "…"
            for cell, width in zip(map(str, cells), widths, strict=True)
        ]
        return "  ".join(
            cell.ljust(width) for cell, width in zip(fitted, widths, strict=True)
        ).rstrip()

    return "\n".join([line(HEADERS), line("-" * width for width in widths), *map(line, rows)])


@reports_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    shown = json.loads(run_dvc("exp", "show", "--json").stdout)
    print(render(table_rows(shown)))
    head = revisions(shown)[0][1]
    note = NOTE.format(baseline=baseline_name(head))
    print("\n" + textwrap.fill(note, WIDTH, break_on_hyphens=False))


if __name__ == "__main__":
    main()
