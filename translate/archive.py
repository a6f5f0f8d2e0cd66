"""Unpacking downloaded archives (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz) without trusting them.

Every member is checked before a byte is written: no absolute paths or ``..``, no links or
devices (a data set needs neither), at most ``max_files`` entries. Bytes are counted as they are
written, not taken from the archive's own sizes (a zip bomb lies about them), against
``max_bytes`` in all and against ``max_ratio`` times the archive's size. Everything goes into a
temporary folder beside the target, renamed into place only when complete, so a refused or
broken archive leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from .download import DownloadError

MAX_BYTES = 64 << 30  # the largest public sets of this field unpack to a few GB (DIV2K HR: 3.5 GB)
MAX_FILES = 250_000  # edges2shoes, the largest, has about 50,000 images
MAX_RATIO = 200  # images barely compress; a zip of zeros reaches 1000:1
RATIO_GRACE_BYTES = 1 << 20  # small archives of text may compress well; a ratio only counts beyond this
CHUNK = 1 << 20


class ArchiveError(DownloadError):
    """An archive refused (unsafe or over a limit) or unreadable; the message names the archive and
    the member at fault."""


def unpack(archive: Path, target: Path, *, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES,
           max_ratio: float = MAX_RATIO, replace: bool = False) -> list[Path]:
    """Unpacks ``archive`` into the folder ``target`` (which must not exist unless ``replace``) and
    returns the files written, under ``target``. The kind is read from the content, not the name."""
    archive, target = Path(archive), Path(target)
    if target.exists() and not replace:
        raise ArchiveError(f"{target} already exists: delete it to unpack {archive.name} again")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".unpacking", dir=target.parent))
    try:
        with contextlib.ExitStack() as stack:
            budget = _Budget(archive, max_bytes, max_ratio)
            written = []
            for name, opener in _members(archive, max_files, stack):
                if opener is None:
                    (staging / name).mkdir(parents=True, exist_ok=True)
                else:
                    written.append(_write(staging, name, opener, budget, archive))
        _put_in_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [target / path.relative_to(staging) for path in written]


class _Budget:
    """Bytes written so far, against the total cap and the archive's size times the ratio cap."""

    def __init__(self, archive: Path, max_bytes: int, max_ratio: float):
        self.archive, self.max_bytes = archive, max_bytes
        self.max_by_ratio = max(archive.stat().st_size * max_ratio, RATIO_GRACE_BYTES)
        self.used = 0

    def spend(self, n: int, member: str) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise ArchiveError(f"{self.archive.name} unpacks to more than {self.max_bytes:,} bytes (at member "
                               f"{member}): refused; pass a larger max_bytes if the archive is trusted")
        if self.used > self.max_by_ratio:
            ratio = self.max_by_ratio / max(self.archive.stat().st_size, 1)
            raise ArchiveError(f"{self.archive.name} unpacks to over {ratio:.0f} times its size (at member "
                               f"{member}): refused as a decompression bomb")


def _members(archive: Path, max_files: int, stack: contextlib.ExitStack) -> list[tuple[str, object]]:
    """(name, opener) per checked member, opener None for a folder; checks every member's kind,
    name and the count before the first is written. ``stack`` closes the archive."""
    if zipfile.is_zipfile(archive):
        return _zip_members(archive, max_files, stack)
    if _is_tar(archive):
        return _tar_members(archive, max_files, stack)
    raise ArchiveError(f"{archive} is not a zip or tar archive (or is damaged): delete it to fetch it again")


def _is_tar(archive: Path) -> bool:
    try:
        return tarfile.is_tarfile(archive)
    except (OSError, tarfile.TarError, EOFError):
        return False


def _zip_members(archive: Path, max_files: int, stack: contextlib.ExitStack):
    try:
        handle = stack.enter_context(zipfile.ZipFile(archive))
        infos = handle.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ArchiveError(f"{archive} is damaged ({exc}): delete it to fetch it again") from None
    _check_count(archive, len(infos), max_files)
    checked = []
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no file type
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            _refuse(archive, info.filename, "is a link or device")
        name = _safe_name(archive, info.filename, info.is_dir())
        if name is not None:
            checked.append((name, None if info.is_dir() else (lambda info=info: handle.open(info))))
    return checked


def _tar_members(archive: Path, max_files: int, stack: contextlib.ExitStack):
    try:
        handle = stack.enter_context(tarfile.open(archive, "r:*"))
        infos = handle.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{archive} is damaged ({exc}): delete it to fetch it again") from None
    _check_count(archive, len(infos), max_files)
    data_filter = getattr(tarfile, "data_filter", None)  # Python >= 3.10.12/3.11.4: a second opinion
    checked = []
    for info in infos:
        if not (info.isfile() or info.isdir()):
            _refuse(archive, info.name, "is a link or device")
        name = _safe_name(archive, info.name, info.isdir())
        if name is None:  # the archive's own root, "./" in a `tar -C DIR -czf X .`: the target itself
            continue
        if data_filter is not None:
            try:
                data_filter(info, "/unpack-target")
            except tarfile.FilterError as exc:
                _refuse(archive, info.name, f"is refused by tarfile's data filter ({type(exc).__name__})")
        checked.append((name, None if info.isdir() else (lambda info=info: handle.extractfile(info))))
    return checked


def _check_count(archive: Path, count: int, max_files: int) -> None:
    if count > max_files:
        raise ArchiveError(f"{archive.name} holds {count:,} entries, more than the {max_files:,} allowed: refused; "
                           "pass a larger max_files if the archive is trusted")


def _safe_name(archive: Path, name: str, is_dir: bool = False) -> str | None:
    """``name`` as a relative POSIX path that stays inside the target, or a refusal; None for a
    folder that names the target itself ("./", which ``tar -C DIR -czf X .`` writes first).
    Backslashes count as separators too: the same archive may be unpacked on Windows."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        _refuse(archive, name, "has an absolute path")
    if ".." in parts:
        _refuse(archive, name, "climbs out of the target with '..'")
    if "\0" in name:
        _refuse(archive, name, "has a NUL byte in its name")
    clean = [part for part in parts if part not in ("", ".")]
    if not clean:
        if is_dir:
            return None
        _refuse(archive, name, "has an empty name")
    return str(PurePosixPath(*clean))


def _refuse(archive: Path, member: str, why: str) -> None:
    raise ArchiveError(f"{archive.name}: member {member!r} {why}: refused, nothing was unpacked")


def _write(staging: Path, name: str, opener, budget: _Budget, archive: Path) -> Path:
    """Writes one member (a new file; a name seen twice is refused), counting its bytes."""
    path = staging / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with opener() as source, open(path, "xb") as out:
            _copy(source, out, budget, name)
    except FileExistsError:
        _refuse(archive, name, "appears twice")
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError, RuntimeError) as exc:
        # RuntimeError: zipfile's encrypted member; zlib/lzma/bz2 errors are OSError or EOFError
        raise ArchiveError(f"{archive.name}: member {name!r} cannot be unpacked ({' '.join(str(exc).split())[:120]}):"
                           " delete the archive to fetch it again") from None
    return path


def _copy(source: IO[bytes], out: IO[bytes], budget: _Budget, name: str) -> None:
    while block := source.read(CHUNK):
        budget.spend(len(block), name)
        out.write(block)


def _put_in_place(staging: Path, target: Path) -> None:
    """Renames the finished folder to ``target``; a ``target`` already there (``replace``) is moved
    aside first and deleted only after the rename, so some complete version is always in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
