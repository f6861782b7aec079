"""`dvc plots diff` pages that draw without internet, checked in a real headless Chromium."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.browser import find_chromium, rendered_dom, screenshot
from tests.helpers.commands import dvc, run
from tools.export_plots import file_stem
from tools.offline_plots import page_template

PLOT_TITLES = {"Accuracy", "Loss", "Learning rate", "Confusion matrix (fine-tuned, test split)"}
BANDED = ("Accuracy", "Loss")  # template .dvc/plots/band.json
FIGURES = [  # the stages' own pictures, in dvc.yaml's plots too
    "plots/lr_range.png",
    "plots/confusion_matrix.png",
    "plots/misclassified.png",
    "plots/accuracy.png",
    "plots/loss.png",
    "plots/learning_rate.png",
]
# Appended to a copy of DVC's page: once everything loaded, the body says how many of its
# pictures the browser decoded.
COUNT_IMAGES = (
    "<script>addEventListener('load', () => { document.body.dataset.decoded = "
    "[...document.images].filter(image => image.naturalWidth > 0).length; });</script>"
)


def drawn_fraction(png):
    """The share of pixels that are not (near) white."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("L"))
    return float(np.mean(pixels < 245))


def plot_divs(page, dom):
    """{plot div id: its part of the rendered DOM}."""
    ids = re.findall(r'<div id = "([^"]+)"', page.read_text(encoding="utf-8"))
    starts = [dom.index(f'id="{plot_id}"') for plot_id in ids]
    return {
        plot_id: dom[start:end]
        for plot_id, start, end in zip(ids, starts, [*starts[1:], len(dom)], strict=True)
    }


def plots_without_marks(page, dom):
    """Plot divs of DVC's page in which Vega drew no marks (an SVG or canvas of class `marks`
    with paths in it) once the scripts ran."""
    return [
        plot_id
        for plot_id, drawn in plot_divs(page, dom).items()
        if not re.search(r'<(svg|canvas)[^>]*class="marks".*<path', drawn, re.S)
    ]


def test_the_template_inlines_the_libraries_and_keeps_dvcs_placeholders():
    page = page_template("window.vegaEmbed = 1; var s = '</script>';")
    assert "{plot_divs}" in page and "{refresh_tag}" in page
    assert "{scripts}" not in page  # DVC's CDN <script> tags go there
    assert "<\\/script>';" in page and page.count("</script>") == 1
    assert (
        file_stem("Confusion matrix (fine-tuned, test split)")
        == "confusion_matrix_fine_tuned_test_split"
    )


@pytest.mark.slow
def test_plots_diff_draws_every_plot_offline_in_chromium(pipeline, tmp_path):
    dvc("repro", cwd=pipeline)
    run(["git", "add", "-A"], pipeline)
    run(["git", "commit", "-qm", "first run"], pipeline)
    dvc("exp", "run", "-n", "faster", "-S", "schedule.k=0.3", "train", cwd=pipeline)

    run([sys.executable, "-m", "tools.offline_plots"], pipeline)
    dvc("plots", "diff", "HEAD", "faster", "-o", "offline", cwd=pipeline)
    page = pipeline / "offline" / "index.html"
    assert "<script src=" not in page.read_text(encoding="utf-8")

    # The static export needs no browser: one picture per plot, every one drawn.
    run([sys.executable, "-m", "tools.export_plots", "HEAD", "faster", "-o", "static"], pipeline)
    exported = sorted((pipeline / "static").iterdir())
    assert [path.name for path in exported] == sorted(f"{file_stem(t)}.png" for t in PLOT_TITLES)
    for path in exported:
        assert drawn_fraction(path) > 0.02, path.name

    if find_chromium() is None:
        pytest.skip(
            "no Chromium on PATH: install it (Debian: apt-get install chromium) to check "
            "the page in a browser; CI does (.ci/run)"
        )
    dom = rendered_dom(page)
    assert plots_without_marks(page, dom) == []
    # Each banded plot: a band (an area) for every curve with seeds, in each revision: the
    # train's training and validation curves and the baseline's validation curve.
    divs = plot_divs(page, dom)
    for title in BANDED:
        (drawn,) = [div for plot_id, div in divs.items() if title.lower() in plot_id.lower()]
        areas = re.findall(r'<path[^>]*aria-roledescription="area mark"', drawn)
        assert len(areas) == 3 * 2, (title, len(areas))
    # Every stage's picture, for both revisions, decoded by the browser from the page's folder.
    images = re.findall(r'<img src="(static/[^"]+)"', page.read_text(encoding="utf-8"))
    assert len(images) == 2 * len(FIGURES)
    assert {Path(source).name.split("_", 1)[1] for source in images} == {
        Path(figure).as_posix().replace("/", "_") for figure in FIGURES
    }
    counted = page.with_name("counted.html")
    counted.write_text(page.read_text(encoding="utf-8") + COUNT_IMAGES, encoding="utf-8")
    assert f'data-decoded="{len(images)}"' in rendered_dom(counted)
    assert drawn_fraction(screenshot(page, tmp_path / "offline.png")) > 0.03

    # The control: DVC's default page loads Vega from a CDN, so offline it draws no plot (its
    # pictures are files beside it, and show).
    run([sys.executable, "-m", "tools.offline_plots", "--remove"], pipeline)
    dvc("plots", "diff", "HEAD", "faster", "-o", "default", cwd=pipeline)
    default_page = pipeline / "default" / "index.html"
    assert "cdn.jsdelivr.net" in default_page.read_text(encoding="utf-8")
    undrawn = plots_without_marks(default_page, rendered_dom(default_page))
    assert len(undrawn) == len(PLOT_TITLES)
