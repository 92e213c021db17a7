"""Download a file from a list of mirrors, verified before it becomes visible.

The bytes go to a temporary file beside the target and are renamed onto it only when the length
promised by the server and the expected checksum both match, so an interrupted or corrupted
transfer never leaves a file that a later run would trust. Standard library only (urllib): the
toolkit should not grow a dependency for one GET request.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from cilab import __version__
from cilab.core.errors import DataError
from cilab.core.progress import progress_bar

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
_USER_AGENT = f"cilab/{__version__} (+urllib)"


class _TransferError(Exception):
    """One mirror failed; the message is short and goes into the combined error."""


def download_file(
    urls: str | Sequence[str],
    dest: str | Path,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool | None = None,
) -> Path:
    """Fetch `dest` from the first of `urls` that delivers complete, checksum-matching bytes.

    Mirrors are tried in order; if all fail, one `DataError` lists every URL with its reason.
    `timeout` bounds each socket operation (connect and every read), so a stalled server fails
    instead of hanging. `progress=None` shows a bar on a terminal and a line a minute in a log
    (`cilab.core.progress`), True forces tqdm's bar, False shows nothing. With neither `md5` nor
    `sha256` only the length is verified: pass a checksum whenever one is published.
    """
    dest = Path(dest)
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError("download_file needs at least one URL")
    expected = {k: v.lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    failures = []
    for url in url_list:
        try:
            _fetch_verified(url, dest, expected, timeout, progress)
            return dest
        except _TransferError as e:
            failures.append(f"{url} ({e})")
    raise DataError(dest, "download failed: " + "; ".join(failures))


def _fetch_verified(
    url: str, dest: Path, expected: dict[str, str], timeout: float, progress: bool | None
) -> None:
    """Download `url` to a temporary file beside `dest`; rename it onto `dest` if it checks out."""
    tmp = _make_temp(dest)
    try:
        with open(tmp, "wb") as out:
            digests = _transfer(url, out, expected, timeout, progress, dest.name)
            out.flush()
            os.fsync(out.fileno())
        for name, want in expected.items():
            if digests[name] != want:
                raise _TransferError(
                    f"{name} checksum mismatch: got {digests[name]}, expected {want}"
                )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _make_temp(dest: Path) -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise DataError(dest.parent, f"cannot write download ({e.strerror or e})") from None
    os.close(fd)
    return Path(name)


def _transfer(
    url: str,
    out: BinaryIO,
    expected: dict[str, str],
    timeout: float,
    progress: bool | None,
    label: str,
) -> dict[str, str]:
    """Stream the response body into `out`; return the hex digests of what was received.

    urllib does not notice a connection closed before Content-Length bytes arrived (read just
    returns b""), so the count is compared here.
    """
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in expected}
    try:
        request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = _content_length(response)
            received = 0
            shown = dict(total=length, unit="B", unit_scale=True, unit_divisor=1024, desc=label)
            bar = (
                tqdm(**shown, leave=False)
                if progress
                else progress_bar(**shown, leave=False, show=progress is None)
            )
            with bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    for h in hashers.values():
                        h.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as e:
        raise _TransferError(f"HTTP {e.code} {_one_line(e.reason)}") from None
    except urllib.error.URLError as e:
        raise _TransferError(_one_line(e.reason)) from None
    except http.client.IncompleteRead as e:
        raise _TransferError(f"connection dropped after {len(e.partial)} bytes") from None
    except (TimeoutError, OSError, http.client.HTTPException, ValueError) as e:
        raise _TransferError(f"{type(e).__name__}: {_one_line(e)}") from None
    if length is not None and received != length:
        raise _TransferError(f"transfer truncated: got {received} of {length} bytes")
    return {name: h.hexdigest() for name, h in hashers.items()}


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _one_line(value: object) -> str:
    return " ".join(str(value).split()) or "no details"
