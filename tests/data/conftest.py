"""Shared fixtures: an isolated environment, synthetic IDX files and a local HTTP server."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cilab.data import mnist
from cilab.data.idx import encode_idx

# Captured before the autouse fixture below hides it, for the tests that use the real data.
SHARED_DATA = os.environ.get("CILAB_DATA")

Route = bytes | Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's data or cache, or tries to reach the internet."""
    monkeypatch.delenv("CILAB_DATA", raising=False)
    monkeypatch.setenv("CILAB_CACHE", str(tmp_path / "cache"))
    # Port 9 (discard) on loopback: nothing listens, so an unintended download fails at once.
    monkeypatch.setenv("CILAB_MNIST_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.setenv("CILAB_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {})


def gz(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0), so byte offsets in corruption tests are stable."""
    return gzip.compress(data, mtime=0)


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_dataset(
    folder: Path, compressed: bool = True, n_train: int = 30, n_test: int = 12
) -> dict:
    """Write the four standard files for a small synthetic dataset; return the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = synthetic_split(n, seed)
        arrays[split] = (images, labels)
        for name, arr in zip(mnist.FILES[split], (images, labels), strict=True):
            data = encode_idx(arr)
            if compressed:
                (folder / f"{name}.gz").write_bytes(gz(data))
            else:
                (folder / name).write_bytes(data)
    return arrays


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None:
            self.send_error(404)
        elif callable(route):
            route(self)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(route)))
            self.end_headers()
            self.wfile.write(route)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """A `http.server` on 127.0.0.1 (port 0) serving `routes`: path -> bytes or handler."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes: dict[str, Route] = {}  # type: ignore[misc]
        self.httpd.hits: list[str] = []  # type: ignore[misc]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes  # type: ignore[attr-defined]

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits  # type: ignore[attr-defined]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


def truncated(body: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler that promises twice the body's length, sends half of it and hangs up."""

    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(2 * len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        h.close_connection = True

    return handle
