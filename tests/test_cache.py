"""The DVC cache is never the workspace: an output changed in place (by a user, an editor, a
tool running as root, which file permissions do not stop) leaves the cached copy intact, and DVC
then sees the change instead of calling the damage up to date."""

import hashlib
import json

import pytest

from tests.helpers.commands import dvc

pytestmark = pytest.mark.slow  # a real DVC pipeline


def cached_copy(root, md5):
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_an_output_written_in_place_leaves_the_cache_intact(pipeline):
    dvc("repro", "split", cwd=pipeline)
    manifest = pipeline / "data" / "split" / "training.csv"
    listing = json.loads(dvc("ls", "--json", ".", "data/split", cwd=pipeline).stdout)
    md5 = next(entry["md5"] for entry in listing if entry["path"] == "training.csv")
    with open(manifest, "r+b") as file:  # in place: the same inode, as `sed -i` would not
        file.seek(0)
        file.write(b"XXXX")

    cached = cached_copy(pipeline, md5).read_bytes()
    assert hashlib.md5(cached).hexdigest() == md5, "the cached copy was changed with it"
    assert "modified" in dvc("status", "split", cwd=pipeline).stdout
    dvc("checkout", "--force", "split", cwd=pipeline)
    assert manifest.read_bytes() == cached
