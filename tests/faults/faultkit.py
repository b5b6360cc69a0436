"""Helpers of the fault-injection tests (imported as `faults.faultkit`: tests/ is on sys.path)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

ZYGOTE = """
import json, os, sys, time
from gancli.cli.app import main  # imported once; every job is a fork of this process
import torch._dynamo, PIL.PngImagePlugin, PIL.GifImagePlugin  # imported lazily by the first Adam / grid
import gancli.training.trainer, gancli.reporting.artifacts, gancli.sampling
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(job["env"])
        if job.get("fsize"):  # a file-size limit: writes past it fail with EFBIG (SIGXFSZ ignored)
            import resource, signal
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (job["fsize"], resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        delay = float(job.get("fsync_delay") or 0)
        if delay:
            real_fsync = os.fsync
            def slow_fsync(fd):
                time.sleep(delay)
                real_fsync(fd)
            os.fsync = slow_fsync
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = 0
        try:
            if job.get("script"):  # a Python script instead of `gan`
                import runpy
                sys.argv = [job["script"], *job["argv"]]
                runpy.run_path(job["script"], run_name="__main__")
            else:
                main(job["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.exit(code)  # a normal exit: atexit handlers and thread joins run, as in a real `gan`
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Zygote:
    """A Python that has imported gancli once and forks a fresh process per `gan` command.

    Each job is a real, separate process (it can be killed with SIGKILL and holds its own
    locks), without paying the interpreter and torch start-up (seconds) every time; the
    zygote never runs torch code itself, so forking it is safe."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            env=child_env(),
            cwd=cwd,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.count = 0

    def start(
        self, *args, fsync_delay: float = 0.0, fsize: int = 0, script: str = "", **env: str
    ) -> tuple[int, Path]:
        """Fork `gan ARGS` with this test's GAN_HOME (and `env`); returns its pid and the file
        that gets its output. `fsize`: RLIMIT_FSIZE in bytes (keep it above a few kB: the
        output file is under the limit too). `script`: run this Python file with ARGS instead."""
        self.count += 1
        log = self.cwd / f"gan-{self.count}.log"
        env = {"GAN_HOME": os.environ["GAN_HOME"], **env}
        job = {
            "argv": [str(a) for a in args],
            "env": env,
            "fsync_delay": fsync_delay,
            "fsize": fsize,
            "log": str(log),
            "script": script,
        }
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())["pid"], log

    def wait(self) -> int:
        """The exit code of the last job (negative: killed by that signal)."""
        return json.loads(self._line())["status"]

    def run(self, *args, **options) -> ChildResult:
        """Run `gan ARGS` to the end in a fork; its exit code and output."""
        _pid, log = self.start(*args, **options)
        code = self.wait()
        text = log.read_text()
        return ChildResult(code, text)

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the zygote died (exit {self.proc.wait()})")
        return line

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class ChildResult:
    """What a forked `gan` printed (stdout and stderr together) and its exit code."""

    def __init__(self, code: int, text: str) -> None:
        self.code, self.text = code, text
        self.out = self.err = text


def child_env(**extra: str) -> dict:
    """The environment of a child `gan`: this test's GAN_HOME, one thread, unbuffered output."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def error_paragraph(res) -> str:
    """The `error:` message of a failed command, checked to be one paragraph without a traceback."""
    assert res.code not in (0, None), f"expected a failure:\n{res.text}"
    assert "Traceback" not in res.text, res.text
    err = res.err.strip()
    assert err.count("error:") == 1, res.text
    message = err[err.index("error:") + len("error:") :].strip()
    assert "\n\n" not in message and message.count("\n") == 0, f"not one paragraph:\n{message}"
    return message


def assert_clean_error(res, *needles: str, code: int | None = None) -> str:
    """A non-zero exit, no traceback, one paragraph holding every needle (whitespace-normalised)."""
    message = error_paragraph(res)
    flat = " ".join(message.split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in: {flat}"
    if code is not None:
        assert res.code == code, (res.code, flat)
    return flat


def assert_usage_error(res, *needles: str) -> None:
    """Click's own refusal of an option value (before any gan code runs): exit 2, no traceback."""
    assert res.code == 2 and "Traceback" not in res.text, res.text
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.text).split())
    for needle in needles:
        assert needle in flat, f"{needle!r} not in: {flat}"


def files_digest(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes: compare before and after to prove nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of atomic writes (`.NAME.*.tmp`) and extraction folders left anywhere below."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name]


# ---------------------------------------------------------------- a local HTTP server


class Served:
    """What the server answers for one path: `script` lists what successive requests get
    ("ok", "404", "500", "reset:N" = N bytes then a connection reset, "html")."""

    def __init__(self, data: bytes, script: list[str] | None = None) -> None:
        self.data = data
        self.script = list(script or [])
        self.ranges: list[str | None] = []  # the Range header of each request


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        served = self.server.files.get(self.path)  # type: ignore[attr-defined]
        if served is None:
            self.send_error(404)
            return
        served.ranges.append(self.headers.get("Range"))
        action = served.script.pop(0) if served.script else "ok"
        if action in ("404", "500"):
            self.send_error(int(action))
            return
        if action == "html":
            body = b"<html><body>Sign in to download this file</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        header = self.headers.get("Range")
        if header:
            start = int(header.split("=")[1].split("-")[0])
        body = served.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if action.startswith("reset:"):
            self.wfile.write(body[: int(action.split(":")[1])])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def http_server(files: dict[str, Served]) -> Iterator[str]:
    """Serve `files` on 127.0.0.1 (Range supported); yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.files = files  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def png_bytes(seed: int, size: int = 16) -> bytes:
    """A small noisy RGB PNG (noise: it does not compress, so sizes are predictable)."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png_with_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb by its dimensions)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
