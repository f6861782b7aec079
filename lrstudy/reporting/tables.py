"""Tables as Markdown (for reading, and for a README's generated sections) and CSV (for tools)."""

import csv
import re
from pathlib import Path

from lrstudy.atomic import atomic_output
from lrstudy.errors import UserError


def markdown_table(rows):
    """rows (dicts with the same keys) as a Markdown table, one column per key."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def write_table(stem, rows, notes=()):
    """rows (dicts with the same keys) as stem.md and stem.csv, the markdown followed by `notes`
    (paragraphs); returns the markdown."""
    columns = list(rows[0])
    markdown = "\n\n".join([markdown_table(rows), *notes]) + "\n"
    stem = Path(stem)
    with atomic_output(stem.with_suffix(".md")) as partial:
        partial.write_text(markdown, encoding="utf-8")
    with (
        atomic_output(stem.with_suffix(".csv")) as partial,
        open(partial, "w", newline="", encoding="utf-8") as file,
    ):
        writer = csv.DictWriter(file, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return markdown


def marked_blocks(text):
    """The markers of the `<!-- marker:start -->` ... `<!-- marker:end -->` blocks in `text`."""
    return re.findall(r"^<!-- (\S+):start -->$", text, re.MULTILINE)


def update_blocks(path, blocks):
    """Put each {marker: text} of `blocks` that the page has into its block; the markers
    updated."""
    present = [marker for marker in marked_blocks(Path(path).read_text()) if marker in blocks]
    for marker in present:
        replace_marked_block(path, marker, blocks[marker])
    return present


def replace_marked_block(path, marker, text):
    """Put `text` between the lines `<!-- marker:start -->` and `<!-- marker:end -->` of a file
    (a page's generated section); refuses a file without them."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    content = Path(path).read_text(encoding="utf-8")
    if start not in content or end not in content:
        raise UserError(f"{path} has no `{start}` ... `{end}` block to update")
    before, rest = content.split(start, 1)
    with atomic_output(path) as partial:
        partial.write_text(before + start + "\n" + text + rest[rest.index(end) :], encoding="utf-8")
