"""Generated blocks of Markdown pages: the text between the lines `<!-- marker:start -->` and
`<!-- marker:end -->` is written by the code that computes it (the study, the bench), never by
hand; tests/test_docs.py checks that every block is what its code writes.

A marker counts only where it stands alone on its line (one mentioned in a sentence or in inline
code is text), and a block's end must follow its start. The page is rewritten in place: through
a symbolic link into the file it points to, with that file's permissions kept.
"""

import os
import re
from pathlib import Path

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import read_utf8, write_text


def marker_lines(text, marker, edge):
    return [
        match.start()
        for match in re.finditer(rf"^<!-- {re.escape(marker)}:{edge} -->$", text, re.MULTILINE)
    ]


def marked_blocks(text):
    """The markers of the `<!-- marker:start -->` ... `<!-- marker:end -->` blocks in `text`
    (each start on a line of its own)."""
    return re.findall(r"^<!-- (\S+):start -->$", text, re.MULTILINE)


def block_span(path, text, marker):
    """(where the block's text starts, where its end marker starts) in `text`; a UserError
    unless the page has one start line and, after it, one end line."""
    starts, ends = marker_lines(text, marker, "start"), marker_lines(text, marker, "end")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if not starts or not ends:
        raise UserError(f"{path} has no `{start}` ... `{end}` block (each on a line of its own)")
    if len(starts) > 1 or len(ends) > 1:
        raise UserError(f"{path} has the block {marker} more than once: keep one")
    if ends[0] < starts[0]:
        raise UserError(f"{path}: `{end}` comes before `{start}`: put the end after the start")
    return starts[0] + len(start) + 1, ends[0]


def write_page(path, text):
    """Replace the page's text atomically, in the file a symbolic link points to, keeping the
    file's permissions."""
    target = Path(path).resolve()
    mode = target.stat().st_mode & 0o7777
    write_text(target, text)
    os.chmod(target, mode)


def replace_marked_block(path, marker, text):
    """Put `text` between the lines `<!-- marker:start -->` and `<!-- marker:end -->` of a file
    (a page's generated section); refuses a file without them."""
    content = read_utf8(path)
    begin, end = block_span(path, content, marker)
    write_page(path, content[:begin] + text + content[end:])


def update_blocks(path, blocks):
    """Put each {marker: text} of `blocks` that the page has into its block; the markers
    updated."""
    present = [marker for marker in marked_blocks(read_utf8(path)) if marker in blocks]
    for marker in present:
        replace_marked_block(path, marker, blocks[marker])
    return present
