"""Byte transfer into a ``.part`` file: http(s) with Range resume, file:// copies, Google Drive via gdown.

Nothing here decides what a file is worth: the caller (``srn.weights.fetch``) checks the size,
hash and keys of the finished ``.part`` before renaming it into place. A transfer that stops
half-way leaves its ``.part`` for the next run to resume; every failure is a ``FetchError`` with
one line naming the address.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, url2pathname, urlopen

from srn import __version__

Progress = Callable[[int, "int | None"], None]
"""``progress(bytes_done, bytes_total_or_None)``, called after each chunk (and once at the start)."""
DriveDownload = Callable[..., None]
"""``drive_download(file_id, part, *, progress, cancel)``: fetch a Google Drive file into ``part``."""

CHUNK = 1 << 16
TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class FetchError(Exception):
    """A fetch that failed; ``str()`` is one line for the user naming the URL or file."""


class FetchCancelled(FetchError):
    """The user stopped the transfer; the ``.part`` file is kept for resume."""


def drive_url(file_id: str) -> str:
    """The address gdown starts from for a Google Drive file id."""
    return f"https://drive.google.com/uc?id={file_id}"


def _cancelled(cancel: threading.Event | None, url: str, done: int, part: Path) -> None:
    if cancel is not None and cancel.is_set():
        raise FetchCancelled(f"download of {url} cancelled; {done} bytes kept in {part} to resume later")


def _sync_close(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def download_url(url: str, part: str | os.PathLike[str], *, expected_size: int | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 timeout: float = TIMEOUT_S) -> int:
    """Bring ``part`` up to the whole of ``url`` (resuming from its current size); returns its size.

    http(s): ``Range: bytes=N-`` when ``part`` holds N bytes; a server that ignores the range
    (200) or answers another one starts the file over. ``expected_size`` (bytes) is checked
    against what the server announces before anything is written.
    """
    part = Path(part)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        return _copy_file(url, part, expected_size=expected_size, progress=progress, cancel=cancel)
    if scheme not in ("http", "https"):
        raise FetchError(f"{url}: only http://, https:// and file:// addresses can be fetched")
    offset = _part_size(part)
    if expected_size is not None and offset > expected_size:
        part.unlink()
        offset = 0
    _cancelled(cancel, url, offset, part)
    try:
        response = _open(url, offset, timeout)
    except _Unsatisfiable as exc:  # 416 on a resume
        if exc.total != offset:  # the part is longer than the file: start over
            part.unlink()
            return download_url(url, part, expected_size=expected_size, progress=progress, cancel=cancel,
                                timeout=timeout)
        if progress:  # the part already holds the whole file
            progress(offset, offset)
        return offset
    with response:
        start, total = _range_of(response, offset)
        if start != offset:
            offset = 0  # the server sends the whole file: start over
        if expected_size is not None and total is not None and total != expected_size:
            part.unlink(missing_ok=True)
            raise FetchError(f"{url}: size mismatch: the server announces {total} bytes, expected {expected_size}")
        done, reason = _copy_stream(response, part, offset, total, url, progress, cancel)
    if total is not None and done > total:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: size mismatch: received {done} bytes, the server announced {total}")
    if total is not None and done < total:
        raise FetchError(f"{url}: download interrupted after {done} of {total} bytes{reason}; "
                         f"run the same command again to resume from {part}")
    return done


class _Unsatisfiable(Exception):
    """HTTP 416 to a ranged request: the server's file has ``total`` bytes (-1: not said)."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.total = total


def _open(url: str, offset: int, timeout: float):
    """The response to a GET, ranged from ``offset`` when it is not 0."""
    request = Request(url, headers={"User-Agent": f"darkface-studio/{__version__}", "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urlopen(request, timeout=timeout)
    except HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
            raise _Unsatisfiable(int(total) if total.isdigit() else -1) from None
        raise FetchError(f"{url}: HTTP error {exc.code} {exc.reason}") from None
    except URLError as exc:
        raise FetchError(f"cannot reach {url}: {exc.reason} (check the network connection or proxy)") from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad status lines
        raise FetchError(f"cannot reach {url}: {exc or type(exc).__name__}") from None


def _range_of(response, offset: int) -> tuple[int, int | None]:
    """(first byte sent, total size or None) of a 200 or 206 response."""
    length = response.headers.get("Content-Length")
    remaining = int(length) if length and length.isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range") or "")
        if match:
            start = int(match.group(1))
            total = (int(match.group(3)) if match.group(3) != "*"
                     else (start + remaining if remaining is not None else None))
            return start, total
        return offset, (offset + remaining if remaining is not None else None)
    return 0, remaining


def _copy_stream(response, part: Path, offset: int, total: int | None, url: str,
                 progress: Progress | None, cancel: threading.Event | None) -> tuple[int, str]:
    """Append the body to ``part`` (or rewrite it when ``offset`` is 0); (bytes in part, why it stopped early)."""
    done, reason = offset, ""
    with open(part, "ab" if offset else "wb") as fh:
        try:
            if progress:
                progress(done, total)
            while True:
                _cancelled(cancel, url, done, part)
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        except (OSError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead
            reason = f" ({exc or type(exc).__name__})"
        finally:
            _sync_close(fh)
    return done, reason


def _copy_file(url: str, part: Path, *, expected_size: int | None, progress: Progress | None,
               cancel: threading.Event | None) -> int:
    """file:// — a local copy with the same progress, cancel and resume as a download."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(f"{url}: file:// addresses on another host are not supported")
    source = Path(url2pathname(parts.path))
    if not source.is_file():
        raise FetchError(f"{url}: no such file")
    total = source.stat().st_size
    if expected_size is not None and total != expected_size:
        raise FetchError(f"{url}: size mismatch: the file has {total} bytes, expected {expected_size}")
    offset = _part_size(part)
    if offset > total:
        offset = 0
    with open(source, "rb") as src:
        src.seek(offset)
        done, reason = _copy_stream(src, part, offset, total, url, progress, cancel)
    if done != total:
        raise FetchError(f"{url}: copied {done} of {total} bytes{reason}; run the same command again to resume")
    return done


def download_drive(file_id: str, part: str | os.PathLike[str], *, progress: Progress | None = None,
                   cancel: threading.Event | None = None, timeout: float = TIMEOUT_S) -> None:
    """Fetch Google Drive file ``file_id`` into ``part`` with gdown (it handles Drive's
    confirmation page and cookies, and resumes its own partial file next to ``part``)."""
    import gdown
    import requests

    part = Path(part)
    url = drive_url(file_id)
    try:
        gdown.download(id=file_id, output=str(part), quiet=True, resume=True, progress=progress,
                       cancel=cancel, timeout=timeout)
    except gdown.DownloadCancelled:
        raise FetchCancelled(f"download of {url} cancelled; run it again to resume") from None
    except gdown.FileURLRetrievalError as exc:
        raise FetchError(f"{url}: Google Drive did not hand out the file: {_one_line(exc)}") from None
    except gdown.DownloadError as exc:
        raise FetchError(f"{url}: {_one_line(exc)}") from None
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise FetchError(f"{url}: HTTP error {status}") from None
    except (requests.exceptions.RequestException, OSError) as exc:
        raise FetchError(f"cannot reach {url}: {_one_line(exc)} (check the network connection or proxy)") from None
    if not part.is_file():
        raise FetchError(f"{url}: gdown finished without writing {part}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def move_into_place(part: Path, dest: Path) -> None:
    """Rename the verified ``part`` over ``dest`` (same folder: atomic), then sync the folder."""
    if part.parent.resolve() != dest.parent.resolve():  # pragma: no cover - fetch always pairs them
        shutil.move(str(part), str(dest))
        return
    os.replace(part, dest)
    try:
        fd = os.open(dest.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows, where folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


