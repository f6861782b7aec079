import hashlib
import http.server
import io
import socket
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import yaml
from PIL import Image

from lrstudy.core.config import DataConfig
from lrstudy.core.errors import UserError
from lrstudy.data.archives import extract_archive
from lrstudy.data.sources import download_url, find_class_root, resolve_source
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT

LIMITS = DataConfig(source="test", sha256=None, max_files=1000, max_gb=0.1)


def image_bytes(shade=0):
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), shade, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("make, suffix", [(make_zip, "zip"), (make_tar, "tar.gz")])
def test_archive_members_outside_the_target_are_refused(tmp_path, make, suffix):
    archive = make(
        tmp_path / f"data.{suffix}",
        {
            "wildlife/deer/1.jpg": image_bytes(1),
            "wildlife/fox/2.jpg": image_bytes(2),
            "../escaped.jpg": image_bytes(3),
            "wildlife/../../also_escaped.jpg": image_bytes(4),
            "/etc/absolute.jpg": image_bytes(5),
        },
    )
    target = tmp_path / "work" / "out"
    refused = extract_archive(archive, target, LIMITS)
    assert {item["file"] for item in refused} == {
        "../escaped.jpg",
        "wildlife/../../also_escaped.jpg",
        "/etc/absolute.jpg",
    }
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        f"data.{suffix}",
        "work/out/wildlife/deer/1.jpg",
        "work/out/wildlife/fox/2.jpg",
    ]
    assert find_class_root(target) == target / "wildlife"


def test_links_in_a_tar_archive_are_refused_not_followed(tmp_path):
    archive = tmp_path / "links.tar.gz"
    with tarfile.open(archive, "w:gz") as tarred:
        photo = tarfile.TarInfo("wild/deer/1.jpg")
        photo.size = len(image_bytes(1))
        tarred.addfile(photo, io.BytesIO(image_bytes(1)))
        link = tarfile.TarInfo("wild/fox/passwd.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tarred.addfile(link)
    refused = extract_archive(archive, tmp_path / "out", LIMITS)
    assert refused == [
        {"file": "wild/fox/passwd.jpg", "reason": "not a regular file (link or device)"}
    ]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["1.jpg"]


def test_local_archive_resolves_to_its_class_folders_and_checks_sha256(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {"a/x.jpg": image_bytes(1), "b/y.jpg": image_bytes(2)})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    root, refused = resolve_source(str(archive), digest, tmp_path / "work", LIMITS)
    assert sorted(p.name for p in root.iterdir()) == ["a", "b"] and refused == []
    with pytest.raises(UserError, match=f"d.zip has sha256 {digest}, but data.sha256 is 0000"):
        resolve_source(str(archive), "0" * 64, tmp_path / "work", LIMITS)


def test_a_file_that_is_not_an_archive_is_refused_clearly(tmp_path):
    fake = tmp_path / "broken.zip"
    fake.write_bytes(b"this is not a zip file")
    with pytest.raises(UserError, match="not a readable zip or tar archive"):
        resolve_source(str(fake), None, tmp_path / "work", LIMITS)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not an archive"):
        resolve_source(str(tmp_path / "notes.txt"), None, tmp_path / "work", LIMITS)
    with pytest.raises(UserError, match=r"^data.source '.*missing' does not exist: give a folder"):
        resolve_source(str(tmp_path / "missing"), None, tmp_path / "work", LIMITS)


def test_url_source_downloads_from_a_local_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    archive = make_tar(
        served / "animals.tar.gz",
        {"animals/a/1.jpg": image_bytes(1), "animals/b/2.jpg": image_bytes(2)},
    )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=served)
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/animals.tar.gz"
        root, _ = resolve_source(url, digest, tmp_path / "work", LIMITS)
        assert sorted(p.name for p in root.iterdir()) == ["a", "b"]
        with pytest.raises(UserError, match="cannot download .*/missing.zip"):
            resolve_source(
                url.replace("animals.tar.gz", "missing.zip"), None, tmp_path / "work2", LIMITS
            )
    finally:
        server.shutdown()


def reference_setup_command():
    """`make repro-reference` as make would run it: the README's one command for the reference
    reports' setup."""
    dry_run = run(["make", "-n", "repro-reference"], REPO_ROOT).stdout.splitlines()
    return next(line for line in dry_run if line.startswith("dvc exp run")).split()


@pytest.mark.slow  # a real `dvc exp run`
def test_the_reference_setup_offline_fails_with_the_local_copy_command(project):
    root = project()
    command = reference_setup_command()
    assert "data.source=kaggle:virtualdvid/oregon-wildlife" in command
    assert "backbone.name=efficientnet_b0" in command
    # A proxy on a closed local port makes this machine offline for the stage, internet or not.
    result = run(
        [sys.executable, "-m", *command, "fetch"],
        root,
        check=False,
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        NO_PROXY="",
        no_proxy="",
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert (
        "error: cannot reach Kaggle to download kaggle:virtualdvid/oregon-wildlife" in result.stderr
    )
    assert "dvc exp run -S data.source=" in result.stderr
    # `-S data.sha256=null` reached the stage as no checksum, and the backbone as B0.
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["data"]["sha256"] is None and params["backbone"]["name"] == "efficientnet_b0"


class Liar(http.server.BaseHTTPRequestHandler):
    """Serves /short (announces 10,240 bytes, sends 2,048), /drip (a byte every 0.2 s, for
    ever) and /big (5,000 bytes)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        if self.path.startswith("/short"):
            self.send_header("Content-Length", "10240")
            self.end_headers()
            self.wfile.write(bytes(2048))
        elif self.path.startswith("/drip"):
            self.end_headers()
            while True:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.send_header("Content-Length", "5000")
            self.end_headers()
            self.wfile.write(bytes(5000))


@pytest.fixture
def liar():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_download_cut_short_too_slow_or_too_large_stops_with_one_error(tmp_path, liar):
    with pytest.raises(
        UserError, match=r"short.zip was cut short: 2,048 of the 10,240 bytes the server announced"
    ):
        download_url(f"{liar}/short.zip", tmp_path / "a", None, LIMITS)
    with pytest.raises(
        UserError, match=r"took over 1 s \([\d,]+ bytes so far\): the server is too slow"
    ):
        download_url(f"{liar}/drip.zip", tmp_path / "b", None, LIMITS, deadline_s=1)
    with pytest.raises(UserError, match="is larger than data.max_gb = 1e-06 GB"):
        download_url(
            f"{liar}/big.zip", tmp_path / "c", None, replace(LIMITS, max_files=10, max_gb=1e-6)
        )
    (tmp_path / "e").mkdir()
    (tmp_path / "e/big.zip").symlink_to("/dev/full")  # every write there: ENOSPC
    with pytest.raises(UserError, match="no space left on disk downloading .*big.zip into"):
        download_url(f"{liar}/big.zip", tmp_path / "e", None, LIMITS)
    # A path that names no file is saved under a name of its own, not over the folder.
    saved = download_url(f"{liar}/big/..", tmp_path / "d", None, LIMITS)
    assert saved.name == "dataset.zip" and saved.stat().st_size == 5000


def test_data_sha256_where_it_cannot_apply_is_named_in_a_warning(tmp_path, capsys):
    (tmp_path / "animals" / "fox").mkdir(parents=True)
    resolve_source(str(tmp_path / "animals"), "ab" * 32, tmp_path / "work", LIMITS)
    assert "warning: data.sha256 is not checked for" in capsys.readouterr().out


def test_a_kaggle_handle_that_is_not_one_is_named_in_one_error(tmp_path):
    with pytest.raises(
        UserError,
        match=r"^data.source 'kaggle:justone' is not a Kaggle dataset \(Invalid dataset handle: ",
    ):
        resolve_source("kaggle:justone", None, tmp_path / "work", LIMITS)


MALFORMED = {
    "/length.zip": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n" + bytes(100),
    "/negative.zip": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n" + bytes(100),
    "/banner.zip": b"SSH-2.0-OpenSSH_9.2\r\n",
    "/header.zip": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    "/headers.zip": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"\r\n",
    "/chunk.zip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 70000,
    "/loop.zip": b"HTTP/1.1 302 Found\r\nLocation: /loop.zip\r\nContent-Length: 0\r\n\r\n",
}


@pytest.fixture
def malformed_server():
    """A local server that answers each path of MALFORMED with its raw bytes, then hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                request = connection.recv(65536).decode("latin-1")
                path = request.split(" ")[1] if " " in request else "/"
                connection.sendall(MALFORMED.get(path, b"HTTP/1.1 404 Not Found\r\n\r\n"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("path", sorted(MALFORMED))
def test_a_malformed_reply_is_one_error_line(tmp_path, malformed_server, path):
    url = malformed_server + path
    if path in ("/length.zip", "/negative.zip"):  # no usable length: read to the end
        assert download_url(url, tmp_path, None, LIMITS).stat().st_size == 100
        return
    with pytest.raises(UserError) as error:
        download_url(url, tmp_path, None, LIMITS)
    message = str(error.value)
    assert message.startswith(f"cannot download {url} (") and "\n" not in message, message
    if path != "/loop.zip":  # a redirect loop is valid HTTP, which urllib ends
        assert message.startswith(f"cannot download {url} (the server's reply is not valid HTTP: ")


@pytest.mark.parametrize("url", ["http://127.0.0.1:port/a.zip", "http://[::1/a.zip"])
def test_a_malformed_url_is_one_error_line(tmp_path, url):
    with pytest.raises(UserError, match=r"is not a valid URL \(") as error:
        download_url(url, tmp_path, None, LIMITS)
    assert "\n" not in str(error.value)
