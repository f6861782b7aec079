"""Generated blocks of Markdown pages: the text between the lines `<!-- marker:start -->` and
`<!-- marker:end -->` is written by the code that computes it (the study, the bench), never by
hand; tests/test_docs.py checks that every block is what its code writes."""

import re
from pathlib import Path

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import write_text


def marked_blocks(text):
    """The markers of the `<!-- marker:start -->` ... `<!-- marker:end -->` blocks in `text`."""
    return re.findall(r"^<!-- (\S+):start -->$", text, re.MULTILINE)


def replace_marked_block(path, marker, text):
    """Put `text` between the lines `<!-- marker:start -->` and `<!-- marker:end -->` of a file
    (a page's generated section); refuses a file without them."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    content = Path(path).read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise UserError(f"{path} has no `{start}` ... `{end}` block to update")
    before, rest = content.split(start, 1)
    write_text(path, before + start + "\n" + text + rest[rest.index(end) :])


def update_blocks(path, blocks):
    """Put each {marker: text} of `blocks` that the page has into its block; the markers
    updated."""
    present = [marker for marker in marked_blocks(Path(path).read_text()) if marker in blocks]
    for marker in present:
        replace_marked_block(path, marker, blocks[marker])
    return present
