"""Where `data.source` points: a Kaggle dataset, an archive URL, a local archive or folder.

Each resolves to a local folder with one sub-folder per class.
"""

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from lrstudy.core.errors import UserError, import_extra, reports_full_disk
from lrstudy.data.archives import ARCHIVE_SUFFIXES, extract_archive, is_archive
from lrstudy.data.fetch import file_digest

KAGGLE_PREFIX = "kaggle:"
DOWNLOAD_DEADLINE_S = 6 * 3600  # for the whole download: Oregon Wildlife is 5 GB


def local_copy_hint(source):
    if source.startswith(KAGGLE_PREFIX):
        source = f"https://www.kaggle.com/datasets/{source[len(KAGGLE_PREFIX) :]}"
    return (
        f"To use a local copy instead, download {source} on a machine with internet, unpack it "
        "anywhere (one sub-folder per class) and run: "
        "dvc exp run -S data.source=/absolute/path/to/the/folder "
        "(or set data.source in params.yaml and run dvc repro)"
    )


def resolve_source(source, sha256, workdir, limits):
    """(local folder holding the class folders of `source`, archive members refused).

    Downloads and unpacks into workdir where needed, an archive within `limits`
    (lrstudy/data/archives.py).
    """
    extracted = Path(workdir) / "extracted"
    if source.startswith(KAGGLE_PREFIX):
        warn_unchecked(source, sha256, "a Kaggle dataset arrives unpacked")
        return find_class_root(download_kaggle(source)), []
    if source.startswith(("http://", "https://")):
        archive = download_url(source, Path(workdir) / "download", sha256, limits)
        refused = extract_archive(archive, extracted, limits)
        return find_class_root(extracted), refused
    path = Path(source).expanduser()
    if path.is_dir():
        warn_unchecked(source, sha256, "a folder has no one file to hash")
        return find_class_root(path), []
    if path.is_file() and is_archive(path):
        verify_sha256(path, sha256)
        refused = extract_archive(path, extracted, limits)
        return find_class_root(extracted), refused
    if path.is_file():
        raise UserError(
            f"data.source {source!r} is a file but not an archive ({', '.join(ARCHIVE_SUFFIXES)})"
        )
    raise UserError(
        f"data.source {source!r} does not exist: give a folder with one sub-folder per class, "
        f"an archive of one, a URL, or {KAGGLE_PREFIX}<owner>/<dataset> "
        "(relative paths are relative to the repository root)"
    )


def warn_unchecked(source, sha256, why):
    if sha256:
        print(f"fetch: warning: data.sha256 is not checked for {source}: {why}; set it to null")


def download_kaggle(source):
    import requests

    kagglehub = import_extra("kagglehub", "kaggle", f"data.source {source!r}")

    handle = source[len(KAGGLE_PREFIX) :]
    try:
        return Path(kagglehub.dataset_download(handle))
    except ValueError as error:  # kagglehub's parse of the handle
        raise UserError(
            f"data.source {source!r} is not a Kaggle dataset ({error}): write it as "
            f"{KAGGLE_PREFIX}<owner>/<dataset>, as in its kaggle.com/datasets/ address"
        ) from None
    except requests.exceptions.ConnectionError:
        raise UserError(
            f"cannot reach Kaggle to download {source} (offline?). " + local_copy_hint(source)
        ) from None


def one_line(text):
    return " ".join(str(text).split())


def checked_url(url):
    """`url` split into its parts; a UserError for one that is no URL (a port that is no
    number, an unclosed IPv6 bracket)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as error:
        raise UserError(f"data.source {url!r} is not a valid URL ({one_line(error)})") from None
    return parts


def announced_length(response):
    """The Content-Length a server announced, or None where it announced none that is valid."""
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def download_url(url, target_dir, sha256, limits, deadline_s=DOWNLOAD_DEADLINE_S):
    """Download `url` into target_dir, checked: against the Content-Length the server announced,
    within `limits.max_gb` and `deadline_s` seconds in all, then against `sha256` if set. A
    malformed URL or reply (not HTTP, an oversized line, too many headers) is one UserError."""
    name = PurePosixPath(checked_url(url).path).name
    name = name if name not in ("", ".", "..") else "dataset.zip"
    target = Path(target_dir) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + deadline_s
    try:
        with (
            reports_full_disk(f"downloading {url} into {target_dir}"),
            urllib.request.urlopen(url, timeout=30) as response,
            open(target, "wb") as file,
        ):
            total = announced_length(response)
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}") as bar:
                while chunk := response.read1(1 << 20):  # what has arrived: no waiting for 1 MiB
                    file.write(chunk)
                    bar.update(len(chunk))
                    check_progress(url, bar.n, limits, deadline, deadline_s)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = one_line(getattr(error, "reason", error))
        raise UserError(f"cannot download {url} ({reason}). " + local_copy_hint(url)) from None
    except http.client.IncompleteRead as error:
        raise UserError(
            f"the download of {url} was cut short ({error}: the connection closed); try again"
        ) from None
    except http.client.HTTPException as error:  # BadStatusLine, LineTooLong, too many headers
        raise UserError(
            f"cannot download {url} (the server's reply is not valid HTTP: "
            f"{type(error).__name__} {one_line(error)[:200]}). " + local_copy_hint(url)
        ) from None
    if total is not None and bar.n != total:
        raise UserError(
            f"the download of {url} was cut short: {bar.n:,} of the {total:,} bytes the server "
            "announced; try again"
        )
    verify_sha256(target, sha256)
    return target


def duration(seconds):
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


def check_progress(url, received, limits, deadline, deadline_s):
    """Stop a download that passes the size cap or its overall deadline (a server that sends a
    byte now and then would otherwise keep it alive forever)."""
    if received > limits.max_bytes:
        raise UserError(
            f"{url} is larger than data.max_gb = {limits.max_gb:g} GB; raise it if the "
            "dataset really is that large"
        )
    if time.monotonic() > deadline:
        raise UserError(
            f"the download of {url} took over {duration(deadline_s)} ({received:,} bytes so far): "
            "the server is too slow. " + local_copy_hint(url)
        )


def verify_sha256(path, expected):
    if not expected:
        return
    digest = file_digest(path)
    if digest != str(expected).lower():
        raise UserError(
            f"{path} has sha256 {digest}, but data.sha256 is {expected}: "
            "the download is corrupt or data.sha256 is out of date"
        )


def find_class_root(path):
    """Descend through wrapper folders (oregon_wildlife/oregon_wildlife/) to the class folders:
    a lone folder whose own entries are all folders wraps them; one holding files is a class."""
    path = Path(path)
    while True:
        entries = [entry for entry in path.iterdir() if not entry.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir():
            return path
        inside = [entry for entry in entries[0].iterdir() if not entry.name.startswith(".")]
        if not inside or not all(entry.is_dir() for entry in inside):
            return path
        path = entries[0]
