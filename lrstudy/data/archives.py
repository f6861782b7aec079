"""Unpacking a dataset archive (zip or tar, compressed or not) with its members checked: only
regular files inside the target, each name once, within a cap on files and bytes, and a
compressed stream read to its end so that its checksum is checked."""

import errno
import lzma
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from lrstudy.core.errors import UserError, reports_full_disk

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
CHUNK = 1 << 20
DAMAGED = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)
TOO_LONG = "its name is too long for this file system (a part over 255 bytes, or the whole path)"


def is_archive(path):
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def unsafe_member_reason(name):
    """Why an archive member must not be extracted, or None: no absolute paths, no `..`, a name."""
    posix = PurePosixPath(name.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and posix.parts[0].endswith(":")):
        return "absolute path in archive"
    if ".." in posix.parts:
        return "path escapes the archive ('..')"
    if not posix.parts:
        return "no file name"
    return None


def archive_members(archive):
    """(name, kind, open) of each member, kind "dir", "file" or "other" (links, devices); a
    compressed tar is read to the end of its stream, where its checksum is."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                kind = "dir" if info.is_dir() else "file"
                yield info.filename, kind, lambda info=info: zipped.open(info)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tarred:
            for member in tarred:
                kind = "dir" if member.isdir() else "file" if member.isfile() else "other"
                yield member.name, kind, lambda member=member: tarred.extractfile(member)
            while tarred.fileobj.read(CHUNK):
                pass
    else:
        raise UserError(f"{archive} is not a readable zip or tar archive")


def member_refusal(name, kind, target, written):
    """Why a member is not extracted, or None."""
    if kind == "other":
        return "not a regular file (link or device)"
    if reason := unsafe_member_reason(name):
        return reason
    path = Path(target, name)
    if path in written:
        return f"a second member named {name}; the first is kept"
    try:
        folder = path.is_dir()
    except OSError as error:
        if error.errno != errno.ENAMETOOLONG:
            raise
        return TOO_LONG
    if folder or any(parent in written for parent in path.parents):
        return "a file and a folder of the same name; the first is kept"
    return None


def too_many_files(where, limits):
    return UserError(
        f"{where} holds more than data.max_files = {limits.max_files:,} files; raise it if the "
        "dataset really is that large"
    )


def extract_archive(archive, target, limits):
    """Extract the regular files of `archive` into a fresh `target`, within `limits` (the
    DataConfig's max_files and max_bytes); the members refused, as [{"file": name, "reason":
    why}]."""
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    refused, written, budget = [], set(), {"files": limits.max_files, "bytes": limits.max_bytes}
    with reports_full_disk(f"extracting {archive} into {target}"):
        try:
            for name, kind, open_member in archive_members(archive):
                if kind == "dir":
                    continue
                if reason := member_refusal(name, kind, target, written):
                    refused.append({"file": name, "reason": reason})
                    continue
                budget["files"] -= 1
                if budget["files"] < 0:
                    raise too_many_files(archive, limits)
                write_member(Path(target, name), open_member(), budget, archive, limits)
                written.add(Path(target, name))
        except DAMAGED as error:
            raise UserError(f"{archive} is a damaged archive ({error})") from None
        except OSError as error:
            if error.errno is None:  # gzip's and bz2's checks of their streams (a bad CRC...)
                raise UserError(f"{archive} is a damaged archive ({error})") from None
            raise
    return refused


def write_member(path, source, budget, archive, limits):
    """Copy one member in chunks, counting its bytes against what the archive may unpack to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with source, open(path, "wb") as file:
        while chunk := source.read(CHUNK):
            budget["bytes"] -= len(chunk)
            if budget["bytes"] < 0:
                raise UserError(
                    f"{archive} unpacks to more than data.max_gb = {limits.max_gb:g} GB; "
                    "raise it if the dataset really is that large"
                )
            file.write(chunk)
