"""A static picture of `dvc plots diff`: every plot of dvc.yaml, for two or more revisions.

    python -m tools.export_plots HEAD exp-lr0.01-k0.3 [more revisions] [-o plots/compare] [--svg]

For READMEs, reports and terminals without a browser. DVC fills the same Vega-Lite specs that
its HTML page draws (`dvc plots diff --json`, the data inline); vl-convert renders each to PNG
(or SVG) without a browser or network, one file per plot.
"""

import argparse
import json
import re
import tempfile
from pathlib import Path

from lrstudy.core.errors import UserError, reports_user_errors
from lrstudy.core.outputs import atomic_output
from lrstudy.core.paths import PLOTS_DIR
from lrstudy.experiments import run_dvc

DEFAULT_OUTPUT = PLOTS_DIR / "compare"


def plot_specs(revisions):
    """{plot title: filled Vega-Lite spec} of `dvc plots diff` for the revisions (the image
    plots, which DVC copies out for --json, go to a folder that is then removed)."""
    with tempfile.TemporaryDirectory() as images:
        shown = run_dvc("plots", "diff", "--json", "-o", images, *revisions).stdout
    plots = json.loads(shown)["data"]
    return {
        title: entry["content"]
        for title, entries in plots.items()
        for entry in entries
        if entry.get("type") == "vega"
    }


def file_stem(title):
    """`Confusion matrix (fine-tuned, test split)` -> `confusion_matrix_fine_tuned_test_split`."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def render(spec, svg=False):
    """A Vega-Lite spec as PNG bytes (or SVG text)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec) if svg else vl_convert.vegalite_to_png(spec, scale=2)


@reports_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revisions", nargs="+", help="git revisions or experiment names")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="a folder")
    parser.add_argument("--svg", action="store_true", help="SVG instead of PNG")
    args = parser.parse_args(argv)
    specs = plot_specs(args.revisions)
    if not specs:
        raise UserError("dvc.yaml defines no Vega plots to export")
    args.output.mkdir(parents=True, exist_ok=True)
    for title, spec in specs.items():
        path = args.output / f"{file_stem(title)}.{'svg' if args.svg else 'png'}"
        picture = render(spec, args.svg)
        with atomic_output(path) as partial:
            partial.write_bytes(picture if isinstance(picture, bytes) else picture.encode())
        print(f"export_plots: {title} -> {path}")


if __name__ == "__main__":
    main()
