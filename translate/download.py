"""Downloads into the cache shared by all commands: resumed with HTTP Range, retried with back-off,
checked (length, sha256) and only then moved into place, one process at a time per file.

Settings, all from the environment so every command honours them:
  TRANSLATE_HOME       the cache folder (default: the user's cache folder + /translate)
  TRANSLATE_MIRROR     http://host:port[/prefix] replaces the scheme and host of every URL, keeps its path
  TRANSLATE_OFFLINE    1/true/yes: never touch the network (a cached file is still used)
  TRANSLATE_DOWNLOAD_RETRIES, TRANSLATE_DOWNLOAD_BACKOFF   tries after the first, back-off factor (s)

A file is checked at every use: against the sha256 the caller gives (the catalogue's), or else
against the one recorded beside it (FILE.sha256) at its first download.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

from .errors import UserError

DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_S = 0.5  # urllib3's Retry: no wait before the 2nd try, then 1 s, 2 s, 4 s ... (at most 30 s)
BACKOFF_MAX_S = 30.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CHUNK = 1 << 20  # hashing
STREAM_CHUNK = 1 << 16  # reading the network: small enough for a live bar on a slow line
TRUE_WORDS = {"1", "true", "yes", "on"}


class DownloadError(UserError):
    """A file that could not be fetched or failed its check. The message is one line naming the URL
    to fetch by hand and the exact path to put the file at."""


def cache_dir() -> Path:
    """$TRANSLATE_HOME, else the platform's user cache folder + translate (~/.cache/translate on
    Linux, honouring XDG_CACHE_HOME; ~/Library/Caches/translate on macOS; %LOCALAPPDATA% on Windows)."""
    home = os.environ.get("TRANSLATE_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("translate", appauthor=False))


def offline() -> bool:
    return os.environ.get("TRANSLATE_OFFLINE", "").strip().lower() in TRUE_WORDS


def mirrored(url: str) -> str:
    """``url`` with its scheme and host replaced by $TRANSLATE_MIRROR's (whose own path, if any, is
    put before url's path), so a lab can serve the same files under the same paths. Idempotent."""
    mirror = os.environ.get("TRANSLATE_MIRROR", "").strip()
    if not mirror:
        return url
    base = urlsplit(mirror)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise UserError(f"TRANSLATE_MIRROR={mirror!r} is not a URL like http://host:port: fix or unset it")
    prefix = base.path.rstrip("/")
    if url.startswith(f"{base.scheme}://{base.netloc}{prefix}/"):
        return url
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, ""))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar(dest: Path) -> Path:
    """Where the sha256 recorded at a file's first download is kept (sha256sum's format)."""
    return dest.with_name(dest.name + ".sha256")


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds PATH.lock exclusively: a second process wanting the same file waits here. The kernel
    releases the lock when a process dies, so a killed download never blocks the next one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        if sys.platform == "win32":  # pragma: no cover - no flock there
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            yield
            return
        import fcntl

        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another process fetching {path.name} ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(url: str, dest: Path, *, sha256: str | None = None, offline: bool | None = None,
          progress: bool = True, timeout: float = 30.0, what: str = "", retries: int | None = None,
          backoff: float | None = None) -> Path:
    """``dest`` (a path in the cache, chosen by the caller) holding the file at ``url`` (through
    $TRANSLATE_MIRROR), checked. A present file that checks needs no network at all."""
    dest = Path(dest)
    expected = _normalised_sha(sha256)
    url = mirrored(url)
    if dest.exists() and _cached_ok(dest, expected, url, repair=False):
        return dest
    if _env_offline() if offline is None else offline:
        state = "fails its check" if dest.exists() else "is not in the cache"
        raise DownloadError(f"offline and {dest.name} {state}: fetch {url} by hand and put it at {dest}")
    with locked(dest):
        if dest.exists() and _cached_ok(dest, expected, url, repair=True):  # fetched meanwhile by another process
            return dest
        settings = dict(what=what or dest.name, progress=progress, timeout=timeout,
                        retries=_setting(retries, "TRANSLATE_DOWNLOAD_RETRIES", DEFAULT_RETRIES, int),
                        backoff=_setting(backoff, "TRANSLATE_DOWNLOAD_BACKOFF", DEFAULT_BACKOFF_S, float))
        left_over = partial_path(dest).exists()
        _download(url, dest, **settings)
        try:
            _check_and_place(url, dest, expected)
        except DownloadError:
            if not (left_over and expected):
                raise
            # the partial file an earlier process left may belong to an older version: once more, whole
            print(f"{dest.name}: the resumed download failed its check: fetching it whole", file=sys.stderr)
            _download(url, dest, **settings)
            _check_and_place(url, dest, expected)
    return dest


_env_offline = offline  # fetch's keyword of the same name hides the function


def _normalised_sha(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    sha256 = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def _setting(value, env: str, default, kind):
    if value is not None:
        return value
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise UserError(f"{env}={text!r} is not a number: fix or unset it") from None


def verified_sha256(dest: Path, expected: str | None = None) -> str:
    """The sha256 that :func:`fetch` has just checked ``dest`` against (the catalogue's, or the one
    recorded beside it), so a caller need not read a large file a second time."""
    return _normalised_sha(expected) or _recorded_sha(dest) or file_sha256(dest)


def _recorded_sha(dest: Path) -> str | None:
    try:
        return sidecar(dest).read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        return None


def _cached_ok(dest: Path, expected: str | None, url: str, repair: bool) -> bool:
    """Whether the cached ``dest`` checks. A file that fails the catalogue's sha256 is deleted when
    ``repair`` (under the lock: it will be fetched again and checked); one that fails its recorded
    sha256 is an error, since nothing says which of the two is right."""
    actual = file_sha256(dest)
    if expected is not None:
        if actual == expected or not repair:
            return actual == expected
        print(f"Cached {dest} does not match the catalogue's sha256: fetching it again", file=sys.stderr)
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        return False
    recorded = _recorded_sha(dest)
    if recorded is None:  # put here by hand (or the recording was interrupted): record it now
        _write_atomic(sidecar(dest), f"{actual}  {dest.name}\n")
        _note_recorded(actual, first="its first use")
        return True
    if actual != recorded:
        raise DownloadError(f"{dest} changed since its first download (sha256 {actual[:12]}…, recorded "
                            f"{recorded[:12]}… in {sidecar(dest).name}): delete both files to fetch {url} again")
    return True


def _note_recorded(sha: str, first: str = "first download") -> None:
    print(f"No published checksum: recorded sha256 {sha[:16]}… at {first}, checked on every later use",
          file=sys.stderr)


def _check_and_place(url: str, dest: Path, expected: str | None) -> None:
    """Checks the finished partial file and only then moves it into place."""
    part = partial_path(dest)
    actual = file_sha256(part)
    known, source = (expected, "the catalogue's") if expected else (_recorded_sha(dest), "the recorded")
    if known is not None and actual != known:
        part.unlink()
        fix = f"delete {sidecar(dest)} if the publisher changed it" if not expected else "retry later"
        raise DownloadError(f"{url} does not match {source} sha256 (got {actual[:12]}…, expected {known[:12]}…): "
                            f"discarded the download; {fix}, or fetch it by hand and put it at {dest}")
    os.replace(part, dest)
    if expected:
        print(f"{dest.name}: checked against the catalogue's sha256", file=sys.stderr)
    elif known is None:
        _write_atomic(sidecar(dest), f"{actual}  {dest.name}\n")
        _note_recorded(actual)
    else:
        print(f"{dest.name}: checked against the sha256 recorded at its first download", file=sys.stderr)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class _Broken(Exception):
    """One try that failed in a way a later try may not (a dropped connection, a short body)."""


def _download(url: str, dest: Path, *, what: str, progress: bool, timeout: float, retries: int,
              backoff: float) -> None:
    """Fills dest's partial file with the whole file, resuming what is there. Tries are counted and spaced by
    urllib3's Retry; a try that brings new bytes starts the count afresh, so a long download over a
    flaky line gets there while a server that never gets further gives up."""
    import requests
    from urllib3.exceptions import HTTPError, MaxRetryError
    from urllib3.util import Retry

    def policy() -> Retry:
        return Retry(total=retries, backoff_factor=backoff, backoff_max=BACKOFF_MAX_S, allowed_methods=None,
                     status_forcelist=RETRY_STATUSES, respect_retry_after_header=True)

    part, retry, furthest, tries = partial_path(dest), policy(), 0, 0
    validator: dict[str, str] = {}  # the first answer's ETag, so a resume never splices two versions
    with requests.Session() as session:
        session.headers.update({"User-Agent": "translate-gan", "Accept-Encoding": "identity"})
        while True:
            response, tries = None, tries + 1
            try:
                response = _one_try(session, url, dest, validator, what=what, progress=progress, timeout=timeout)
                if response is None:
                    return
                error: Exception = _Broken(f"HTTP {response.status_code}")
            except (requests.RequestException, HTTPError, OSError, _Broken) as exc:
                error = exc
            size = part.stat().st_size if part.exists() else 0
            if size > furthest:
                retry, furthest = policy(), size
            try:
                retry = retry.increment(method="GET", url=url, error=error if response is None else None,
                                        response=response.raw if response is not None else None)
            except MaxRetryError:
                raise DownloadError(f"could not download {url}: {_reason(error)} ({tries} tries): "
                                    f"fetch it by hand and put it at {dest}") from None
            retry.sleep(response.raw if response is not None else None)


def _one_try(session, url: str, dest: Path, validator: dict[str, str], *, what: str, progress: bool,
             timeout: float):
    """One request, resuming from the partial file's size. Returns None when that file is complete,
    the response when its status may be worth another try; raises for a broken transfer, and a
    DownloadError for a status no retry will change (404, 403 ...)."""
    part = partial_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-", **validator} if offset else {}
    response = session.get(url, headers=headers, stream=True, timeout=(timeout, timeout))
    with response:
        if response.status_code == 416:  # the partial file is as long as the file or longer: start over
            part.unlink()
            raise _Broken("the server refused to resume (HTTP 416)")
        if response.status_code in RETRY_STATUSES:
            return response
        if response.status_code not in (200, 206):
            raise DownloadError(f"could not download {url}: HTTP {response.status_code} {response.reason}: "
                                f"fetch it by hand and put it at {dest}")
        start, total = _extent(response, offset)
        etag = response.headers.get("ETag", "")
        if etag and not etag.startswith("W/"):  # If-Range takes strong validators only
            validator.setdefault("If-Range", etag)
        mode = "ab" if start else "wb"  # a 200 is the whole file: start over
        _stream(response, part, mode, start, total, what=what, progress=progress)
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Broken(f"the server sent {size - start} of the {total - start} bytes it announced")
    return None


def _extent(response, offset: int) -> tuple[int, int | None]:
    """(first byte of this response in the file, the file's total length or None if unknown)."""
    if response.status_code == 206:
        found = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", response.headers.get("Content-Range", ""))
        if not found or int(found[1]) != offset:
            raise _Broken(f"the server answered a resume with Content-Range {response.headers.get('Content-Range')!r}")
        return offset, None if found[3] == "*" else int(found[3])
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _stream(response, part: Path, mode: str, start: int, total: int | None, *, what: str,
            progress: bool) -> None:
    """Appends the body to ``part``: a tqdm bar (size, speed, ETA) on a terminal, one summary line
    in a log."""
    import time

    from tqdm import tqdm
    from urllib3.exceptions import ProtocolError

    tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    began = time.perf_counter()
    with open(part, mode) as out, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                       unit_divisor=1024, desc=what, file=sys.stderr, disable=not (progress and tty),
                                       dynamic_ncols=True, mininterval=0.5) as bar:
        try:
            for block in response.raw.stream(STREAM_CHUNK, decode_content=False):
                out.write(block)
                bar.update(len(block))
        except ProtocolError as exc:
            out.flush()
            announced = f" of the {total - start}" if total is not None else ""
            raise _Broken(f"the connection broke after {out.tell() - start}{announced} bytes") from exc
        out.flush()
        os.fsync(out.fileno())
        received = out.tell() - start
    if progress and not tty:
        seconds = max(time.perf_counter() - began, 1e-6)
        resumed = f", resumed at {start / 1e6:.1f} MB" if start else ""
        print(f"Downloaded {what}: {received / 1e6:.1f} MB in {seconds:.3g} s "
              f"({received / 1e6 / seconds:.1f} MB/s{resumed})", file=sys.stderr)


def _reason(error: Exception) -> str:
    """A short, one-line cause: 'timed out', 'connection refused', 'HTTP 503', or the message."""
    text = str(error)
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "resolve" in lowered:
        return "host not found"
    return " ".join(text.split())[:200] or type(error).__name__
