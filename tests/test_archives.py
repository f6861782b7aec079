"""Unpacking crafted and damaged archives: each member once, within the caps, checksums read."""

import gzip
import io
import os
import tarfile
import zipfile
from dataclasses import replace

import pytest

from lrstudy.core.config import DataConfig
from lrstudy.core.errors import UserError
from lrstudy.data.archives import extract_archive
from tests.test_sources import image_bytes

LIMITS = DataConfig(source="test", sha256=None, max_files=1000, max_gb=0.1)


def tar_of(path, members, compresslevel=9):
    """A .tar.gz of [(name, bytes)], names repeatable, as a careless packer would write it."""
    with (
        gzip.open(path, "wb", compresslevel=compresslevel) as packed,
        tarfile.open(fileobj=packed, mode="w") as archive,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_repeated_name_keeps_the_first_copy_and_reports_the_second(tmp_path):
    first, second = image_bytes(10), image_bytes(200)
    archive = tar_of(tmp_path / "a.tar.gz", [("fox/a.jpg", first), ("fox/a.jpg", second)])
    refused = extract_archive(archive, tmp_path / "out", LIMITS)
    assert (tmp_path / "out/fox/a.jpg").read_bytes() == first
    assert refused == [
        {"file": "fox/a.jpg", "reason": "a second member named fox/a.jpg; the first is kept"}
    ]


def test_a_file_and_a_folder_of_one_name_and_a_nameless_member_are_refused(tmp_path):
    members = [("fox", b"not a folder"), ("fox/a.jpg", image_bytes()), (".", b"x")]
    refused = extract_archive(tar_of(tmp_path / "a.tar.gz", members), tmp_path / "out", LIMITS)
    assert files_under(tmp_path / "out") == ["fox"]
    assert [item["reason"] for item in refused] == [
        "a file and a folder of the same name; the first is kept",
        "no file name",
    ]


def test_more_files_or_bytes_than_allowed_stop_with_one_error(tmp_path):
    members = [(f"fox/{index}.jpg", image_bytes()) for index in range(3)]
    archive = tar_of(tmp_path / "a.tar.gz", members)
    with pytest.raises(UserError, match="holds more than data.max_files = 2 files"):
        extract_archive(archive, tmp_path / "out", replace(LIMITS, max_files=2))
    bomb = tmp_path / "bomb.zip"  # 2 MB of zeros in a few kilobytes
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("fox/zeros.jpg", bytes(2_000_000))
    assert bomb.stat().st_size < 10_000
    with pytest.raises(UserError, match=r"unpacks to more than data.max_gb = 0.001 GB"):
        extract_archive(bomb, tmp_path / "out", replace(LIMITS, max_files=10, max_gb=0.001))


def corrupt(path, position):
    data = bytearray(path.read_bytes())
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def test_damaged_compressed_data_is_one_error_not_altered_content(tmp_path):
    # Stored, not compressed, inside gzip: a flipped byte changes a member's content and only
    # the gzip checksum at the end of the stream can tell.
    photo = image_bytes()
    archive = tar_of(tmp_path / "a.tar.gz", [("fox/a.jpg", photo)], compresslevel=0)
    corrupt(archive, archive.read_bytes().index(photo) + len(photo) // 2)
    with pytest.raises(UserError, match=r"a.tar.gz is a damaged archive \(\w"):
        extract_archive(archive, tmp_path / "out", LIMITS)
    zipped = tmp_path / "a.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as packed:
        packed.writestr("fox/a.jpg", image_bytes() * 50)
    corrupt(zipped, 60)  # inside the deflate data, past the member's local header
    with pytest.raises(UserError, match=r"a.zip is a damaged archive \(\w"):
        extract_archive(zipped, tmp_path / "out", LIMITS)


def test_a_full_disk_while_extracting_is_one_line(tmp_path, small_disk):
    archive = tar_of(tmp_path / "big.tar.gz", [("fox/noise.bin", os.urandom(2 << 20))])
    with pytest.raises(UserError, match=r"no space left on disk extracting .*big.tar.gz into"):
        extract_archive(archive, small_disk / "out", LIMITS)


def test_a_member_whose_name_the_file_system_cannot_hold_is_skipped(tmp_path):
    long_name = "x" * 300 + ".jpg"  # over the 255 bytes a file name may have
    deep = "/".join(["folder" * 40] * 40) + "/a.jpg"  # over PATH_MAX
    archive = tar_of(
        tmp_path / "a.tar.gz",
        [("fox/ok.jpg", b"ok"), (f"fox/{long_name}", b"too long"), (f"fox/{deep}", b"deep")],
    )
    refused = extract_archive(archive, tmp_path / "out", LIMITS)
    assert [item["file"] for item in refused] == [f"fox/{long_name}", f"fox/{deep}"]
    assert all(item["reason"].startswith("its name is too long") for item in refused)
    assert (tmp_path / "out/fox/ok.jpg").read_bytes() == b"ok"
