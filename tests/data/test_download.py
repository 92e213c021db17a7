"""The downloader against a local HTTP server: verified files appear, bad ones never do."""

from __future__ import annotations

import hashlib
import socket
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cilab.core.errors import DataError
from cilab.data.download import download_file

from .conftest import LocalServer, truncated

BODY = bytes(range(256)) * 1000  # 256 kB: several read chunks
MD5 = hashlib.md5(BODY).hexdigest()
SHA256 = hashlib.sha256(BODY).hexdigest()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connection refused, immediately."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/f"


def assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == [], "partial or unverified file left behind"


@pytest.mark.parametrize("checksum", [{"md5": MD5}, {"sha256": SHA256}, {"md5": MD5.upper()}])
def test_downloads_and_verifies(server: LocalServer, tmp_path: Path, checksum: dict) -> None:
    server.routes["/f.gz"] = BODY
    dest = tmp_path / "sub" / "f.gz"
    assert download_file(server.url("/f.gz"), dest, **checksum) == dest
    assert dest.read_bytes() == BODY
    assert [p.name for p in dest.parent.iterdir()] == ["f.gz"]  # no temporary file left


def test_tries_mirrors_in_order(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/b/f"] = BODY
    urls = [server.url("/a/f"), closed_port_url(), server.url("/b/f"), server.url("/c/f")]
    download_file(urls, tmp_path / "f", md5=MD5)
    assert server.hits == ["/a/f", "/b/f"]
    assert (tmp_path / "f").read_bytes() == BODY


def test_all_mirrors_failing_reports_each(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/bad/f"] = b"wrong bytes"
    refused = closed_port_url()
    urls = [server.url("/missing/f"), refused, server.url("/bad/f")]
    with pytest.raises(DataError) as info:
        download_file(urls, tmp_path / "f", md5=MD5)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'f'}: download failed: ")
    assert f"{urls[0]} (HTTP 404" in message
    assert f"{refused} (" in message and "refused" in message.lower()
    assert f"{urls[2]} (md5 checksum mismatch" in message
    assert_nothing_left(tmp_path)


def test_checksum_mismatch_deletes_partial_file(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/f"] = BODY[:-1] + b"X"
    with pytest.raises(DataError, match=f"md5 checksum mismatch: got [0-9a-f]+, expected {MD5}"):
        download_file(server.url("/f"), tmp_path / "f", md5=MD5)
    assert_nothing_left(tmp_path)


def test_failed_download_keeps_existing_file(server: LocalServer, tmp_path: Path) -> None:
    dest = tmp_path / "f"
    dest.write_bytes(b"old")
    server.routes["/f"] = b"corrupt"
    with pytest.raises(DataError):
        download_file(server.url("/f"), dest, sha256=SHA256)
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_truncated_transfer_is_detected(server: LocalServer, tmp_path: Path) -> None:
    """Content-Length promises more than arrives: an error even without a checksum."""
    server.routes["/f"] = truncated(BODY)
    with pytest.raises(DataError, match=rf"transfer truncated: got {len(BODY) // 2} of"):
        download_file(server.url("/f"), tmp_path / "f")
    assert_nothing_left(tmp_path)


def test_truncated_transfer_falls_back_to_next_mirror(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/a"] = truncated(BODY)
    server.routes["/b"] = BODY
    download_file([server.url("/a"), server.url("/b")], tmp_path / "f", md5=MD5)
    assert (tmp_path / "f").read_bytes() == BODY


def test_no_content_length_truncation_caught_by_checksum(
    server: LocalServer, tmp_path: Path
) -> None:
    def close_delimited(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()
        h.wfile.write(BODY[:1000])

    server.routes["/f"] = close_delimited
    with pytest.raises(DataError, match="checksum mismatch"):
        download_file(server.url("/f"), tmp_path / "f", md5=MD5)
    assert_nothing_left(tmp_path)


def test_stalled_server_times_out(server: LocalServer, tmp_path: Path) -> None:
    def stall(h: BaseHTTPRequestHandler) -> None:
        time.sleep(3)

    server.routes["/f"] = stall
    start = time.monotonic()
    with pytest.raises(DataError, match="timed out"):
        download_file(server.url("/f"), tmp_path / "f", md5=MD5, timeout=0.3)
    assert time.monotonic() - start < 2.5
    assert_nothing_left(tmp_path)


def test_progress_bar_can_be_forced(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.routes["/f"] = BODY
    download_file(server.url("/f"), tmp_path / "f", md5=MD5, progress=True)
    assert "f" in capsys.readouterr().err


def test_bad_url_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="download failed: nonsense-url"):
        download_file(["nonsense-url"], tmp_path / "f", md5=MD5)


def test_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        download_file([], tmp_path / "f")
