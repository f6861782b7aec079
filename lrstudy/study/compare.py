"""`make compare`: HEAD's `train` and each of its experiments against HEAD's baseline, with the
study's tests and outcomes, in one table that fits a 120-column terminal.

    python -m lrstudy.study.compare                     # HEAD and every experiment of HEAD
    python -m lrstudy.study.compare exp-a exp-b         # HEAD and those
    python -m lrstudy.study.compare --sweep schedule.k  # HEAD and the experiments that differ
                                                        #   from it in schedule.k alone
    python -m lrstudy.study.compare --json              # the same, machine-readable

From `dvc exp show --json` and each experiment's per-seed results, read with `dvc.api`
(lrstudy/study/experiment_verdicts.py); the experiments that cannot be compared are named below
the table with the reason.
"""

import argparse
import json
import sys
import textwrap

from tqdm import tqdm

from lrstudy.core.errors import reports_user_errors
from lrstudy.experiments import read_experiment_file, run_dvc
from lrstudy.study.experiment_verdicts import judge

WIDTH = 120
CUT_FIRST = ("differs from HEAD", "experiment")  # the text columns cut (…) to fit WIDTH


def render(rows):
    """Aligned columns of `rows` (dicts, one key per column); the text columns are cut (…)
    where the table would pass WIDTH."""
    headers = list(rows[0])
    cells = [[str(row[header]) for header in headers] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *cells, strict=True)]
    excess = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    for header in CUT_FIRST:
        index = headers.index(header)
        cut = min(max(excess, 0), widths[index] - len(header))
        widths[index] -= cut
        excess -= cut

    def line(values):
        fitted = [
            value if len(value) <= width else value[: width - 1] + "…"
            for value, width in zip(values, widths, strict=True)
        ]
        return "  ".join(
            value.ljust(width) for value, width in zip(fitted, widths, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, cells)])


def report(judged):
    """The table, the experiments left out and the note, as printed."""
    parts = [render(judged["rows"])]
    if judged["left_out"]:
        left = "; ".join(f"{name}: {reason}" for name, reason in judged["left_out"].items())
        parts.append(textwrap.fill(f"Left out: {left}.", WIDTH, break_on_hyphens=False))
    parts.append(textwrap.fill(judged["note"], WIDTH, break_on_hyphens=False))
    return "\n\n".join(parts)


def reading_bar(experiments):
    """A progress bar over the experiments read, on stderr and only on a terminal (a study's
    grid leaves a hundred and more)."""
    return tqdm(
        experiments, desc="compare: reading", unit="exp", file=sys.stderr, disable=None, leave=False
    )


@reports_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiments", nargs="*", help="only these experiments (and HEAD)")
    parser.add_argument(
        "--sweep",
        type=lambda text: [key.strip() for key in text.split(",") if key.strip()],
        default=[],
        metavar="KEY[,KEY]",
        help="only the experiments that differ from HEAD in these params (group.key) alone",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    shown = json.loads(run_dvc("exp", "show", "--json").stdout)
    judged = judge(shown, read_experiment_file, args.experiments, args.sweep, reading_bar)
    print(json.dumps(judged, indent=2) if args.json else report(judged))


if __name__ == "__main__":
    main()
