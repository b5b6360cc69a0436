"""Downloads against a local HTTP server whose faults the test scripts, and `gan download`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import socket
import struct
import tarfile
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import typer
from faults.faultkit import make_tgz
from typer.testing import CliRunner

from gancli.cli.download import download_command
from gancli.data import registry
from gancli.data.download import DownloadOptions, download_file, install_dataset, install_url, verify_file
from gancli.data.registry import DatasetInfo, RemoteFile
from gancli.errors import UserError

FAST = DownloadOptions(timeout=0.5, retries=2, backoff=0.0)
ENDLESS_STOP = 4 << 20


# --------------------------------------------------------------------------------------
# A scriptable local server
# --------------------------------------------------------------------------------------


@dataclass
class Resource:
    """A file on the test server; ``script`` lists what each successive request gets."""

    data: bytes
    ranges: bool = True
    script: list[str] = field(default_factory=list)
    requests: list[str | None] = field(default_factory=list)  # the Range header of each request
    sent: list[int] = field(default_factory=list)  # body bytes written for each request


class Server:
    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.release = threading.Event()  # ends stalls at teardown
        self.base = ""

    def add(self, path: str, data: bytes, **kwargs) -> Resource:
        self.resources[path] = Resource(data, **kwargs)
        return self.resources[path]

    def url(self, path: str) -> str:
        return self.base + path


class Handler(BaseHTTPRequestHandler):
    server_state: Server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        res = state.resources.get(self.path)
        if res is None:
            self.send_error(404)
            return
        res.requests.append(self.headers.get("Range"))
        action = res.script.pop(0) if res.script else "ok"
        if self._answered_without_body(res, action):
            return
        start = self._range_start(res)
        if start is not None:
            self._send_body(res, action, start, state)

    def _answered_without_body(self, res, action: str) -> bool:
        """The scripted answers that are not the file: an error status, a page, a redirect loop."""
        if action in ("404", "500", "503"):
            res.sent.append(0)
            self.send_error(int(action))
        elif action in ("endless", "html"):
            res.sent.append(self._special(action))
        elif action == "redirect":
            res.sent.append(0)
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            return False
        return True

    def _range_start(self, res) -> int | None:
        """Where the body starts (a Range request on a resource that honours ranges), or None
        after answering 416 to a range past the end."""
        header = self.headers.get("Range")
        if not (res.ranges and header):
            return 0
        start = int(header.split("=")[1].split("-")[0])
        if start >= len(res.data):
            res.sent.append(0)
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(res.data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return start

    def _send_body(self, res, action: str, start: int, state) -> None:
        body = res.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(res.data) - 1}/{len(res.data)}")
        if action == "extra":
            body = body + b"unexpected trailing bytes"  # no Content-Length: read to close
        elif action == "announce":
            self.send_header("Content-Length", str(len(body) + 100))
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        kind, _, arg = action.partition(":")
        if kind in ("cut", "reset", "stall"):
            n = int(arg)
            self.wfile.write(body[:n])
            self.wfile.flush()
            res.sent.append(n)
            if kind == "reset":  # an RST instead of a clean close
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == "stall":
                state.release.wait(10)
            self.close_connection = True
            return
        self.wfile.write(body)  # for "announce": less than announced, then the connection closes
        res.sent.append(len(body))

    def _special(self, action: str) -> int:
        """'endless': no Content-Length and a body that only stops (at 4 MiB, so that a client
        without a cap finishes rather than hangs) when the client goes; 'html': a login page."""
        self.send_response(200)
        if action == "html":
            page = b"<!DOCTYPE html>\n<html><body>Please sign in to download</body></html>\n"
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return len(page)
        self.end_headers()
        self.close_connection = True
        sent = 0
        try:
            while sent < ENDLESS_STOP:
                self.wfile.write(bytes(1 << 14))
                sent += 1 << 14
        except OSError:
            pass  # the client hung up: that is the point
        return sent


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = Server()
    httpd.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def wait_sent(res: Resource, count: int) -> list[int]:
    """``res.sent`` once the server has logged ``count`` answers: it logs after the last byte, which
    the client may have read (and returned from) first."""
    deadline = time.monotonic() + 5
    while len(res.sent) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return res.sent


def payload(n: int = 10_000) -> bytes:
    return bytes((i * 7 + i // 256) % 251 for i in range(n))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# download_file
# --------------------------------------------------------------------------------------


def test_full_download_verifies_and_reports_progress(server, tmp_path):
    data = payload()
    server.add("/f.bin", data)
    seen: list[tuple[str, int, int | None]] = []
    options = DownloadOptions(timeout=1, retries=0, backoff=0, progress=lambda *a: seen.append(a))
    dest = download_file(
        server.url("/f.bin"),
        tmp_path / "f.bin",
        size=len(data),
        checksum=("sha256", sha(data)),
        options=options,
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    assert seen[-1] == ("f.bin", len(data), len(data))


def test_interrupted_download_resumes_with_range(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data, script=["cut:3000", "ok"])  # closes after 3000 of 10000 bytes
    dest = download_file(
        server.url("/f.bin"), tmp_path / "f.bin", size=len(data), checksum=("sha256", sha(data)), options=FAST
    )
    assert dest.read_bytes() == data
    assert res.requests == [None, "bytes=3000-"]
    assert wait_sent(res, 2) == [3000, 7000]  # only the remainder was sent again


def test_connection_reset_mid_file_resumes(server, tmp_path):
    data = payload(200_000)
    res = server.add("/f.bin", data, script=["reset:50000", "ok"])
    dest = download_file(
        server.url("/f.bin"), tmp_path / "f.bin", size=len(data), checksum=("sha256", sha(data)), options=FAST
    )
    assert dest.read_bytes() == data
    assert len(res.requests) == 2
    assert res.requests[1] is None or res.requests[1].startswith("bytes=")  # resumed from what arrived


def test_partial_from_an_earlier_run_is_resumed(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data)
    (tmp_path / "f.bin.part").write_bytes(data[:4000])
    download_file(
        server.url("/f.bin"), tmp_path / "f.bin", size=len(data), checksum=("sha256", sha(data)), options=FAST
    )
    assert (tmp_path / "f.bin").read_bytes() == data
    assert res.requests == ["bytes=4000-"] and wait_sent(res, 1) == [6000]


def test_server_without_range_restarts_from_zero(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data, ranges=False)
    (tmp_path / "f.bin.part").write_bytes(b"x" * 4000)  # would corrupt the file if appended to
    download_file(
        server.url("/f.bin"), tmp_path / "f.bin", size=len(data), checksum=("sha256", sha(data)), options=FAST
    )
    assert (tmp_path / "f.bin").read_bytes() == data
    assert res.requests == ["bytes=4000-"] and wait_sent(res, 1) == [len(data)]


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    data = payload()
    server.add("/f.bin", data)
    wrong = "0" * 64
    with pytest.raises(UserError) as info:
        download_file(
            server.url("/f.bin"), tmp_path / "f.bin", checksum=("sha256", wrong), options=FAST, dataset="tiny"
        )
    message = str(info.value)
    assert wrong in message and sha(data) in message and "--force" in message
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == []


def test_404_is_not_retried_and_suggests_from_file(server, tmp_path):
    res = server.add("/f.bin", b"", script=["404"])
    with pytest.raises(UserError) as info:
        download_file(server.url("/f.bin"), tmp_path / "f.bin", options=FAST, dataset="tiny")
    assert "HTTP 404" in str(info.value) and "gan download tiny --from-file PATH" in str(info.value)
    assert len(res.requests) == 1


def test_500_then_success_is_retried(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data, script=["500", "503", "ok"])
    download_file(server.url("/f.bin"), tmp_path / "f.bin", size=len(data), options=FAST)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert len(res.requests) == 3


def test_retries_are_bounded(server, tmp_path):
    res = server.add("/f.bin", b"abc", script=["500"] * 10)
    with pytest.raises(UserError, match="HTTP 500"):
        download_file(server.url("/f.bin"), tmp_path / "f.bin", options=FAST)
    assert len(res.requests) == FAST.retries + 1


def test_stall_longer_than_timeout_resumes(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data, script=["stall:2000", "ok"])
    download_file(
        server.url("/f.bin"),
        tmp_path / "f.bin",
        size=len(data),
        checksum=("sha256", sha(data)),
        options=DownloadOptions(timeout=0.3, retries=1, backoff=0),
    )
    assert (tmp_path / "f.bin").read_bytes() == data
    assert res.requests == [None, "bytes=2000-"]


def test_redirect_loop_is_a_clear_error(server, tmp_path):
    server.add("/loop", b"", script=["redirect"] * 20)
    with pytest.raises(UserError, match="redirect loop"):
        download_file(server.url("/loop"), tmp_path / "f.bin", options=FAST)


def test_more_bytes_than_expected_is_an_error(server, tmp_path):
    data = payload()
    server.add("/f.bin", data, script=["extra"])
    with pytest.raises(UserError, match="more than the 10,000 bytes"):
        download_file(server.url("/f.bin"), tmp_path / "f.bin", size=len(data), options=FAST)
    assert not (tmp_path / "f.bin.part").exists() and not (tmp_path / "f.bin").exists()


def test_announced_length_that_differs_from_registry_is_an_error(server, tmp_path):
    data = payload()
    res = server.add("/f.bin", data, script=["announce"])
    with pytest.raises(UserError, match="announces 10,100 bytes but 10,000"):
        download_file(server.url("/f.bin"), tmp_path / "f.bin", size=len(data), options=FAST)
    assert len(res.requests) == 1


def test_content_length_that_lies_short_is_resumed(server, tmp_path):
    # No registry size: the server promises 100 bytes more than it sends, then behaves.
    data = payload()
    res = server.add("/f.bin", data, script=["announce", "ok"])
    download_file(server.url("/f.bin"), tmp_path / "f.bin", checksum=("sha256", sha(data)), options=FAST)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert res.requests == [None, f"bytes={len(data)}-"]  # answered 416 */N: already complete


def test_unreachable_server_names_address_and_from_file(tmp_path):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/flower_photos.tgz"
    with pytest.raises(UserError) as info:
        download_file(
            url,
            tmp_path / "f.tgz",
            options=DownloadOptions(timeout=0.5, retries=1, backoff=0),
            dataset="flowers",
        )
    assert url in str(info.value) and "gan download flowers --from-file PATH" in str(info.value)
    assert str(info.value).count(url) == 1  # the address once, with its reason
    assert "partial download is kept" not in str(info.value)  # there is none
    assert list(tmp_path.iterdir()) == []  # no lock file left behind
    with pytest.raises(UserError) as info:
        download_file(
            (url, url.replace("flower", "other")),
            tmp_path / "new" / "f.tgz",
            options=DownloadOptions(timeout=0.5, retries=1, backoff=0),
            dataset="flowers",
        )
    assert "from any of its 2 addresses" in str(info.value) and str(info.value).count(url) == 1
    assert not (tmp_path / "new").exists()  # the folder it made for the download: gone again


def test_mirror_is_used_when_primary_fails(server, tmp_path):
    data = payload()
    server.add("/primary", b"", script=["404"])
    server.add("/mirror", data)
    download_file(
        [server.url("/primary"), server.url("/mirror")],
        tmp_path / "f.bin",
        size=len(data),
        checksum=("sha256", sha(data)),
        options=FAST,
    )
    assert (tmp_path / "f.bin").read_bytes() == data


def test_verify_file_kinds(tmp_path):
    data = payload()
    path = tmp_path / "x"
    path.write_bytes(data)
    assert verify_file(path, ("md5", hashlib.md5(data).hexdigest())) == sha(data)
    with pytest.raises(UserError, match="expected md5 0000"):
        verify_file(path, ("md5", "0" * 32))
    with pytest.raises(UserError, match=f"expected sha256 {sha(data)[:8]}, got {sha(data)}"):
        verify_file(path, ("sha256", sha(data)[:8]))  # a prefix is not the digest: it never matches
    with pytest.raises(UserError, match="expected 5 bytes"):
        verify_file(path, None, 5)


# --------------------------------------------------------------------------------------
# Bodies of unknown size are capped (#12 item 13)
# --------------------------------------------------------------------------------------


def test_endless_body_without_length_stops_at_the_cap(server, tmp_path):
    res = server.add("/endless", b"", script=["endless"])
    url = server.url("/endless")
    options = DownloadOptions(timeout=2, retries=2, backoff=0, max_bytes=256 << 10)
    with pytest.raises(UserError) as info:
        download_file(url, tmp_path / "f.tgz", options=options, dataset="big")
    message = str(info.value)
    assert f"Stopped downloading {url}" in message and "262,144 bytes" in message
    assert "256.0 KiB" in message and "--max-size" in message
    # the cut-off body is gone, so that nothing resumes from it or installs it as the file
    assert list(tmp_path.iterdir()) == [] or all(p.name.startswith(".") for p in tmp_path.iterdir())
    assert len(res.requests) == 1 and wait_sent(res, 1)[0] < ENDLESS_STOP  # stopped early, not retried


def test_announced_length_above_the_cap_is_refused_before_the_body(server, tmp_path):
    data = payload(50_000)
    res = server.add("/big.tgz", data)
    with pytest.raises(UserError, match=r"announces 50,000 bytes, more than the 39\.1 KiB allowed"):
        download_file(server.url("/big.tgz"), tmp_path / "f.tgz", options=DownloadOptions(max_bytes=40_000))
    assert not (tmp_path / "f.tgz.part").exists() and len(res.requests) == 1


def test_registry_size_is_the_cap_and_the_default_cap_is_a_few_gib(server, tmp_path):
    data = payload()
    server.add("/f.bin", data, script=["extra"])  # more than the registry's size, no Content-Length
    with pytest.raises(UserError, match="more than the 10,000 bytes expected"):
        download_file(server.url("/f.bin"), tmp_path / "f.bin", size=len(data), options=FAST)
    assert not (tmp_path / "f.bin.part").exists()
    assert 1 << 30 <= DownloadOptions().max_bytes <= 16 << 30


# --------------------------------------------------------------------------------------
# A web page instead of the file (#12 item 15)
# --------------------------------------------------------------------------------------


def test_web_page_instead_of_the_file_names_url_and_from_file_and_is_not_kept(tiny, server, tmp_path):
    server.add("/login.tgz", b"", script=["html", "html"])
    url = server.url("/login.tgz")
    for _attempt in range(2):  # the second run must not pick the page up as a finished download
        with pytest.raises(UserError) as info:
            install_url(url, "mine", tmp_path, options=FAST)
        message = str(info.value)
        assert (
            url in message
            and "web page" in message
            and "gan download --name mine --from-file PATH" in message
        )
        assert not registry.downloads_dir("mine", tmp_path).exists()  # nothing kept, not even its folder
        assert registry.find_downloaded("mine", tmp_path) is None
    assert len(server.resources["/login.tgz"].requests) == 2


def test_web_page_for_a_registry_entry_is_not_resumed_from(tiny, server, tmp_path):
    archive, res = tiny
    res.script[:] = ["html"]
    with pytest.raises(UserError) as info:
        install_dataset("tiny", tmp_path, options=FAST)
    assert server.url("/tiny.tgz") in str(info.value) and "gan download tiny --from-file PATH" in str(
        info.value
    )
    assert not list(registry.downloads_dir("tiny", tmp_path).glob("tiny.tgz*"))
    install_dataset("tiny", tmp_path, options=FAST)  # the server behaves again: a clean start
    assert res.requests[-1] is None


def test_archive_holding_a_marker_folder_is_refused_by_name(tiny, server, tmp_path):
    """#12 item 12: a `.complete.json/` folder in a tar used to fail writing our marker, with an
    error naming an internal temporary file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folder = tarfile.TarInfo(".complete.json")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        info = tarfile.TarInfo("imgs/a.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    data = buf.getvalue()
    server.add("/m.tgz", data)
    with pytest.raises(UserError) as raised:
        install_url(server.url("/m.tgz"), "mine", tmp_path, sha256=sha(data), options=FAST)
    message = str(raised.value)
    assert "'.complete.json'" in message and "Refusing to extract" in message and ".tmp" not in message
    assert registry.find_downloaded("mine", tmp_path) is None
    assert not [p for p in registry.datasets_root(tmp_path).iterdir() if p.name != ".mine.lock"]


# --------------------------------------------------------------------------------------
# Installing registry entries
# --------------------------------------------------------------------------------------


def make_idx(images: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">III", *images.shape)
    return gzip.compress(header + images.astype(np.uint8).tobytes())


FLOWERS_LIKE = {
    "photos/daisy/a.jpg": b"\xff\xd8fake-jpeg-a",
    "photos/roses/b.jpg": b"\xff\xd8fake-jpeg-b",
    "photos/LICENSE.txt": b"CC BY",
}


@pytest.fixture
def tiny(server, monkeypatch):
    """A registry entry 'tiny' (archive kind) served by the test server."""
    archive = make_tgz(FLOWERS_LIKE)
    res = server.add("/tiny.tgz", archive)
    info = DatasetInfo(
        name="tiny",
        kind="archive",
        images=2,
        resolution="varied",
        channels=3,
        licence="test",
        files=(RemoteFile("tiny.tgz", server.url("/tiny.tgz"), size=len(archive), sha256=sha(archive)),),
    )
    monkeypatch.setitem(registry.DATASETS, "tiny", info)
    return archive, res


def test_install_archive_then_noop_then_force(tiny, tmp_path):
    archive, res = tiny
    result = install_dataset("tiny", tmp_path, options=FAST)
    folder = registry.dataset_dir("tiny", tmp_path)
    assert result.folder == folder and result.images == 2 and not result.already_present
    assert (folder / "photos/daisy/a.jpg").read_bytes() == FLOWERS_LIKE["photos/daisy/a.jpg"]
    marker = json.loads((folder / registry.MARKER).read_text())
    assert marker["files"][0]["sha256"] == sha(archive) and marker["kind"] == "archive"
    assert registry.find_downloaded("tiny", tmp_path) == folder
    assert not list(registry.downloads_dir("tiny", tmp_path).glob("tiny.tgz*"))  # archive removed
    again = install_dataset("tiny", tmp_path, options=FAST)
    assert again.already_present and len(res.requests) == 1
    install_dataset("tiny", tmp_path, options=FAST, force=True)
    assert len(res.requests) == 2 and registry.find_downloaded("tiny", tmp_path) == folder
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".tiny.tmp")]


def test_bad_archive_checksum_installs_nothing(tiny, server, tmp_path):
    server.resources["/tiny.tgz"].data = make_tgz({"evil.jpg": b"x" * 10})
    size = len(server.resources["/tiny.tgz"].data)
    registry.DATASETS["tiny"] = DatasetInfo(
        **{
            **registry.DATASETS["tiny"].__dict__,
            "files": (RemoteFile("tiny.tgz", server.url("/tiny.tgz"), size=size, sha256=sha(tiny[0])),),
        }
    )
    with pytest.raises(UserError, match="Checksum mismatch"):
        install_dataset("tiny", tmp_path, options=FAST)
    assert registry.find_downloaded("tiny", tmp_path) is None
    assert not registry.dataset_dir("tiny", tmp_path).exists()
    assert not list(registry.downloads_dir("tiny", tmp_path).glob("tiny.tgz*"))


def test_marker_missing_means_not_downloaded(tiny, tmp_path):
    install_dataset("tiny", tmp_path, options=FAST)
    (registry.dataset_dir("tiny", tmp_path) / registry.MARKER).unlink()
    assert registry.find_downloaded("tiny", tmp_path) is None


def test_idx_dataset_becomes_images_npy(server, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (7, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    files = []
    for role, arr, fname in (
        ("train-images", train, "train-images-idx3-ubyte.gz"),
        ("test-images", test, "t10k-images-idx3-ubyte.gz"),
    ):
        blob = make_idx(arr)
        server.add("/" + fname, blob)
        files.append(RemoteFile(fname, server.url("/" + fname), size=len(blob), sha256=sha(blob), role=role))
    monkeypatch.setitem(
        registry.DATASETS,
        "digits",
        DatasetInfo(
            name="digits",
            kind="idx",
            files=tuple(files),
            images=7,
            resolution="28x28",
            channels=1,
            licence="test",
        ),
    )
    result = install_dataset("digits", tmp_path, options=FAST)
    images = np.load(result.folder / registry.IMAGES_NPY, allow_pickle=False)
    assert images.shape == (7, 28, 28, 1) and images.dtype == np.uint8
    assert np.array_equal(images[..., 0], train)
    assert np.load(result.folder / registry.TEST_IMAGES_NPY, allow_pickle=False).shape == (3, 28, 28, 1)
    assert result.images == 7


def test_file_kind_verified_by_full_sha256(server, monkeypatch, tmp_path):
    data = payload()
    server.add("/w.pth", data)
    good = RemoteFile(f"w-{sha(data)[:8]}.pth", server.url("/w.pth"), size=len(data), sha256=sha(data))
    entry = DatasetInfo(
        name="weights", kind="file", images=None, resolution="-", channels=None, licence="test", files=(good,)
    )
    monkeypatch.setitem(registry.DATASETS, "weights", entry)
    install_dataset("weights", tmp_path, options=FAST)
    path = registry.downloaded_file("weights", tmp_path)
    assert path is not None and path.read_bytes() == data
    assert path.parent == registry.find_downloaded("weights", tmp_path)
    # the same first 8 hex digits are not enough: every digit is compared
    wrong = sha(data)[:8] + ("0" if sha(data)[8] != "0" else "1") + sha(data)[9:]
    monkeypatch.setitem(registry.DATASETS, "weights", replace(entry, files=(replace(good, sha256=wrong),)))
    with pytest.raises(UserError, match="Checksum mismatch"):
        install_dataset("weights", tmp_path, options=FAST, force=True)


def test_inception_weights_are_pinned_by_their_full_sha256():
    """#12 item 16: the full digest, whose first 8 hex digits are the ones in the file name."""
    (remote,) = registry.DATASETS["inception"].files
    kind, digest = remote.checksum
    assert kind == "sha256" and re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest.startswith("6726825d") and remote.filename.endswith(f"-{digest[:8]}.pth")
    assert remote.size == 95_628_359


def test_unverified_file_warns(server, monkeypatch, tmp_path):
    server.add("/w.pth", b"weights")
    monkeypatch.setitem(
        registry.DATASETS,
        "weights",
        DatasetInfo(
            name="weights",
            kind="file",
            images=None,
            resolution="-",
            channels=None,
            licence="test",
            files=(RemoteFile("w.pth", server.url("/w.pth")),),
        ),
    )
    warnings: list[str] = []
    said: list[str] = []
    result = install_dataset("weights", tmp_path, options=FAST, warn=warnings.append, info=said.append)
    assert result.unverified == ["w.pth"] and any("not verified" in w for w in warnings)
    assert any("unverified: no checksum is recorded" in m for m in said)  # said before downloading


def test_registry_entries_are_complete():
    for ds in registry.DATASETS.values():
        for remote in ds.files:
            assert all(url.startswith(("http://", "https://")) for url in remote.urls)
            # every entry carries its full published sha256 and exact size
            assert remote.checksum[0] == "sha256" and re.fullmatch(r"[0-9a-f]{64}", remote.sha256), ds.name
            assert remote.size and remote.size > 0, ds.name
        assert ds.licence and ds.description
    assert registry.DATASETS["flowers"].size == 228_813_984
    assert registry.DATASETS["cifar10"].filename == "cifar-10-binary.tar.gz"
    with pytest.raises(
        UserError, match="Known datasets: cifar10, fashion-mnist, flowers, flowers102, inception, lfw"
    ):
        registry.get_info("nope")
    with pytest.raises(UserError):
        registry.dataset_dir("../escape")


# --------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------


@pytest.fixture
def cli():
    app = typer.Typer()
    app.command("download")(download_command)
    app.command("other")(lambda: None)  # two commands, so `download` stays a subcommand
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["download", *args], env={"COLUMNS": "200"})


def test_cli_list_url_noop_and_from_file(cli, tiny, server, tmp_path):
    archive, res = tiny
    root = str(tmp_path / "root")
    listing = cli("--list", "--root", root)
    assert listing.exit_code == 0, listing.output
    assert "flowers" in listing.output and "218.2 MiB" in listing.output and "3,670" in listing.output

    first = cli("tiny", "--root", root, "--quiet")
    assert first.exit_code == 0, first.output
    second = cli("tiny", "--root", root, "--quiet")
    assert second.exit_code == 0 and "already downloaded" in second.output and len(res.requests) == 1
    assert "yes" in cli("--list", "--root", root).output

    url_run = cli(
        server.url("/tiny.tgz"), "--name", "mine", "--sha256", sha(archive), "--root", root, "--quiet"
    )
    assert url_run.exit_code == 0, url_run.output
    assert (Path(root) / "datasets/mine/photos/roses/b.jpg").is_file()
    assert "mine" in cli("--list", "--root", root).output

    local = tmp_path / "tiny.tgz"
    local.write_bytes(archive)
    other_root = str(tmp_path / "offline")
    offline = cli("tiny", "--root", other_root, "--from-file", str(local), "--quiet")
    assert offline.exit_code == 0, offline.output
    assert len(res.requests) == 2  # the URL download above; --from-file fetched nothing
    assert registry.find_downloaded("tiny", other_root) is not None
    assert local.exists()  # the user's file is never deleted


def test_cli_from_file_with_wrong_checksum_fails(cli, tiny, tmp_path):
    bad = tmp_path / "tiny.tgz"
    bad.write_bytes(make_tgz({"x.jpg": b"not it"}))
    result = cli("tiny", "--root", str(tmp_path / "r"), "--from-file", str(bad), "--quiet")
    assert result.exit_code != 0 and isinstance(result.exception, UserError)
    assert "mismatch" in str(result.exception)
    assert registry.find_downloaded("tiny", tmp_path / "r") is None


def test_cli_url_without_sha256_warns_and_pins(cli, tiny, server, tmp_path):
    result = cli(server.url("/tiny.tgz"), "--name", "mine", "--root", str(tmp_path), "--quiet")
    assert result.exit_code == 0, result.output
    assert "not verified" in result.output and sha(tiny[0]) in result.output


def test_cli_errors(cli, tmp_path):
    unknown = cli("nope", "--root", str(tmp_path))
    assert unknown.exit_code != 0 and "Known datasets" in str(unknown.exception)
    no_name = cli("http://127.0.0.1:9/x.tgz", "--root", str(tmp_path))
    assert no_name.exit_code != 0 and "--name" in str(no_name.exception)
    nothing = cli("--root", str(tmp_path))
    assert nothing.exit_code != 0 and "--list" in str(nothing.exception)
    taken = install_url  # a URL may not reuse a registry name
    with pytest.raises(UserError, match="known dataset"):
        taken("http://127.0.0.1:9/x.tgz", "flowers", tmp_path)


def test_cli_url_download_says_when_it_retries(cli, tiny, server, tmp_path):
    archive, _ = tiny
    res = server.add("/flaky.tgz", archive, script=["503", "ok"])
    result = cli(
        server.url("/flaky.tgz"),
        "--name",
        "flaky",
        "--sha256",
        sha(archive),
        "--root",
        str(tmp_path),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "HTTP 503" in result.output and "retrying in 1 s" in result.output
    assert len(res.requests) == 2 and result.output.count("not verified") == 0


# --------------------------------------------------------------------------------------
# Extraction of a registry archive is bounded by what the registry knows (#12 item 14)
# --------------------------------------------------------------------------------------


def serve_as_tiny(server, archive: bytes, images: int = 2) -> None:
    """Make the registry entry 'tiny' vouch (size and sha256) for ``archive``."""
    server.add("/tiny.tgz", archive)
    registry.DATASETS["tiny"] = replace(
        registry.DATASETS["tiny"],
        images=images,
        files=(RemoteFile("tiny.tgz", server.url("/tiny.tgz"), size=len(archive), sha256=sha(archive)),),
    )


def test_registry_archive_expanding_past_its_known_size_is_refused(tiny, server, tmp_path):
    archive = make_tgz({"photos/a.jpg": b"\xff\xd8" + bytes(3 << 20)})  # 3 MiB from a few KiB
    serve_as_tiny(server, archive)
    with pytest.raises(UserError, match=r"decompression bomb.*uncompressed total"):
        install_dataset("tiny", tmp_path, options=FAST)
    assert registry.find_downloaded("tiny", tmp_path) is None
    assert not [p for p in registry.datasets_root(tmp_path).iterdir() if ".tmp" in p.name]


def test_registry_archive_with_far_more_members_than_images_is_refused(tiny, server, tmp_path):
    archive = make_tgz({f"photos/{i:04d}.jpg": b"" for i in range(1_100)})  # 'tiny' holds 2 images
    serve_as_tiny(server, archive)
    with pytest.raises(UserError, match=r"more than 1,004 members"):
        install_dataset("tiny", tmp_path, options=FAST)
    assert registry.find_downloaded("tiny", tmp_path) is None


# --------------------------------------------------------------------------------------
# lfw and flowers102: their publishers' layouts, installed and read like the other entries
# --------------------------------------------------------------------------------------


def jpeg(seed: int, size: int = 12) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


LAYOUTS = {
    # lfw.tgz: one folder per person
    "lfw": (
        "w:gz",
        ["lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "lfw/Zico/Zico_0001.jpg", "lfw/Zico/Zico_0002.jpg"],
    ),
}
# flowers102 (an uncompressed tar of jpg/image_NNNNN.jpg, and imagelabels.mat): test_labelled_installs.py


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_face_and_flower_entries_install_and_load(name, server, monkeypatch, tmp_path):
    mode, members = LAYOUTS[name]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for i, member in enumerate(members):
            data = jpeg(i)
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    real = registry.DATASETS[name]
    (remote,) = real.files
    server.add("/" + remote.filename, archive)
    served = replace(
        remote, url=server.url("/" + remote.filename), mirrors=(), size=len(archive), sha256=sha(archive)
    )
    monkeypatch.setitem(registry.DATASETS, name, replace(real, files=(served,), images=len(members)))
    result = install_dataset(name, tmp_path, options=FAST)
    assert result.images == len(members) and registry.find_downloaded(name, tmp_path) == result.folder
    from gancli.data.source import load_images

    prepared = load_images(name, 8, 3, root=str(tmp_path))
    assert tuple(prepared.images.shape) == (len(members), 3, 8, 8)


def test_face_and_flower_entries_record_their_publishers():
    lfw, flowers = registry.DATASETS["lfw"], registry.DATASETS["flowers102"]
    assert (lfw.images, lfw.resolution, lfw.kind) == (13_233, "250x250", "archive")
    assert lfw.url == "http://vis-www.cs.umass.edu/lfw/lfw.tgz" and lfw.size == 180_566_744
    assert lfw.sha256 == "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0"
    assert (flowers.images, flowers.kind) == (8_189, "oxford-flowers")
    assert flowers.url == "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz"
    assert flowers.sha256 == "2d01ecc807db462958cfe3d92f57a8c252b4abd240eb955770201e45f783b246"
    assert flowers.files[0].size == 344_862_509
    labels = flowers.files[1]  # TFDS's record of the label file (torchvision's md5 is in the comment)
    assert labels.url == "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat"
    assert (labels.size, labels.role) == (502, "image-labels")
    assert labels.sha256 == "4903e94206bac23bf772aadf06451916df56b58fc483a62db32a97b82656651d"
    assert "Huang" in lfw.licence and "Nilsback" in flowers.licence


def test_cli_max_size_stops_an_endless_download(cli, server, tmp_path):
    server.add("/endless.tgz", b"", script=["endless"])
    url = server.url("/endless.tgz")
    result = cli(url, "--name", "big", "--root", str(tmp_path), "--quiet", "--max-size", "300K")
    assert result.exit_code != 0 and isinstance(result.exception, UserError)
    message = str(result.exception)
    assert f"Stopped downloading {url}" in message and "300.0 KiB" in message
    assert not registry.downloads_dir("big", tmp_path).exists()  # the cut-off body and its folder: gone
    bad = cli(url, "--name", "big", "--root", str(tmp_path), "--max-size", "lots")
    assert bad.exit_code != 0 and "--max-size 'lots' is not a size" in str(bad.exception)


def test_cli_json_says_what_was_installed(cli, tiny, tmp_path):
    result = cli("tiny", "--root", str(tmp_path), "--quiet", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["name"] == "tiny" and report["images"] == 2 and report["unverified"] == []
    assert Path(report["folder"]) == registry.dataset_dir("tiny", tmp_path)


def test_registry_addresses_use_https_where_the_publisher_serves_it():
    plain = {f.url for ds in registry.DATASETS.values() for f in ds.files if f.url.startswith("http://")}
    # publishers with no https address for these files: S3's website endpoint and UMass' server
    # (lfw's figshare mirror is https)
    assert {u.split("/")[2] for u in plain} <= {
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "vis-www.cs.umass.edu",
    }
    assert registry.DATASETS["flowers"].files[0].url.startswith("https://storage.googleapis.com/")
