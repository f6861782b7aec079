"""The README's generated sections are what the committed run and study wrote, not typed."""

import re

import pytest

from lrstudy.errors import UserError
from lrstudy.reporting.tables import replace_marked_block
from tests.helpers.sandbox import REPO_ROOT

# marker in README.md -> the file the pipeline or the study wrote
GENERATED = {
    "table": "metrics/table.md",
    "study-reference": "metrics/study-reference.md",
    "study-modern": "metrics/study-modern.md",
}


def marked_block(text, marker):
    found = re.search(f"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", text, re.DOTALL)
    assert found, f"README.md has no {marker} block"
    return found.group(1)


@pytest.mark.parametrize("marker", GENERATED)
def test_readme_sections_equal_the_committed_outputs(marker):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert marked_block(readme, marker) == (REPO_ROOT / GENERATED[marker]).read_text()


def test_a_marked_block_is_replaced_and_a_missing_one_refused(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- x:start -->\nold\n<!-- x:end -->\nrest\n")
    replace_marked_block(page, "x", "new\n")
    assert page.read_text() == "intro\n<!-- x:start -->\nnew\n<!-- x:end -->\nrest\n"
    with pytest.raises(UserError, match="has no `<!-- y:start -->`"):
        replace_marked_block(page, "y", "new\n")
