"""Small helpers shared by test files (importable as ``helpers``: pytest puts this folder, which
holds the root conftest.py, on sys.path)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image


def random_images(folder: Path, n: int = 6, size: int = 24, seed: int = 0) -> Path:
    """``n`` random RGB PNGs of ``size``² in ``folder`` (made if needed): data that only has to load."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def popen_translate(*args: str) -> subprocess.Popen:
    """``python -m translate ARGS`` in the background, unbuffered, with pipes for its output."""
    return subprocess.Popen([sys.executable, "-m", "translate", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def wait_for_steps(log: Path, steps: int, timeout: float = 120) -> None:
    """Until a run's log.jsonl holds ``steps`` lines (or ``timeout`` seconds pass)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= steps):
        time.sleep(0.2)


class LoopbackServer:
    """A local HTTP file server for download tests; its switches may be changed while it runs.

    ``files`` maps URL paths ("/sets/x.zip") to bytes. Range requests get 206 with Content-Range
    (unless ``ranges`` is False: then a 200 with the whole file), an If-Range that does not match
    the ETag gets the whole file, as real servers do. Switches:
      drop_after   close the connection after this many body bytes, on the next ``drops`` requests
      stall_after  on the next request, send this many body bytes, then nothing until the server stops
      extra_length announce this many more bytes in Content-Length than are sent (a lying server)
      delay        seconds to wait before answering (a slow server; ended early when the server stops)
      status       {path: code} answered instead of the file (404, 503 ...)
    Record: ``requests`` (one dict per request: path, range, headers) and ``body_bytes`` sent.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.drop_after: int | None = None
        self.drops = 1
        self.stall_after: int | None = None
        self.extra_length = 0
        self.delay = 0.0
        self.status: dict[str, int] = {}
        self.ranges = True
        self.requests: list[dict] = []
        self.body_bytes = 0
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.base_url = ""

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def count(self) -> int:
        return len(self.requests)

    def take_drop(self) -> int | None:
        with self.lock:
            if self.drop_after is None or self.drops <= 0:
                return None
            self.drops -= 1
            return self.drop_after


class _LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: LoopbackServer

    def log_message(self, *args) -> None:  # quiet: the tests read ``requests``
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        owner, path = self.owner, self.path.split("?")[0]
        with owner.lock:
            owner.requests.append({"path": path, "range": self.headers.get("Range"), "headers": dict(self.headers)})
        if owner.delay and owner.stopping.wait(owner.delay):
            return
        if path in owner.status or path not in owner.files:
            self.send_error(owner.status.get(path, 404))
            return
        body = owner.files[path]
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        start = self._range_start(len(body), etag)
        if start is not None and start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start is not None else 200)
        if start is not None:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        start = start or 0
        self.send_header("Content-Length", str(len(body) - start + owner.extra_length))
        self.send_header("Accept-Ranges", "bytes" if owner.ranges else "none")
        self.send_header("ETag", etag)
        self.end_headers()
        stall, owner.stall_after = owner.stall_after, None
        limit = owner.take_drop() if stall is None else stall
        self._send_body(body[start:] if limit is None else body[start:start + limit])
        if stall is not None:
            owner.stopping.wait(30)  # until the client is killed and the server stops
        if limit is not None or owner.extra_length:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _range_start(self, size: int, etag: str) -> int | None:
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if not (wanted and self.owner.ranges) or (if_range is not None and if_range != etag):
            return None
        return int(wanted[1])

    def _send_body(self, body: bytes) -> None:
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(body[i:i + (1 << 16)])
            with self.owner.lock:
                self.owner.body_bytes += len(body[i:i + (1 << 16)])
        self.wfile.flush()


@contextlib.contextmanager
def serve_files(files: dict[str, bytes]) -> Iterator[LoopbackServer]:
    """A :class:`LoopbackServer` on 127.0.0.1 (a free port) serving ``files`` for the ``with``
    block; ``server.url("/x.zip")`` is its address. Nothing leaves this machine, so download tests
    run without the internet; point TRANSLATE_MIRROR at ``server.base_url`` to serve catalogue URLs."""
    owner = LoopbackServer(files)
    handler = type("Handler", (_LoopbackHandler,), {"owner": owner})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client that hung up is the test's point
    owner.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield owner
    finally:
        owner.stopping.set()
        httpd.shutdown()
        httpd.server_close()
