"""Atomic writes: a reader never sees a half-written checkpoint, image or config, and a crash or
a full disk leaves the previous file in place.

The data go to a temporary file beside the target, are flushed to disk (fsync), then renamed over
the target, and the folder entry is flushed too, so that after a power cut the folder holds either
the old file or the new one. The temporary file gets the permissions a plain ``open`` would give
(0666 minus the umask), not mkstemp's private 0600.

Nothing here writes through a symbolic link: the temporary file is created new (``O_EXCL``), the
rename replaces a link at the target rather than its target, and :func:`open_append` refuses a
link, a FIFO or a device. Which folders may hold links at all is the caller's rule (a run folder's
is in :mod:`translate.run_folder`). A write that fails (a full disk, a read-only folder, a file
where a folder should be) is one line naming the path, whatever library did the writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import UserError

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # folders that cannot be fsynced (some file systems): the rename is still atomic
    finally:
        os.close(fd)


def temp_name_pattern(path: Path) -> str:
    """The glob of the temporary files :func:`atomic_path` makes for ``path``."""
    return f".{path.name}.*{TEMP_SUFFIX}{path.suffix}"


def is_disk_full(exc: BaseException) -> bool:
    """A full disk or quota, also when a library reports it in its own error type (safetensors
    raises SafetensorError carrying the OS error's text, not OSError)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return True
    text = str(exc)
    return any(sign in text for sign in ("No space left on device", "Disk quota exceeded", "StorageFull",
                                         "QuotaExceeded", "File too large", f"(os error {errno.ENOSPC})",
                                         f"(os error {errno.EDQUOT})", f"(os error {errno.EFBIG})"))


def write_failure(path: Path, exc: BaseException) -> str | None:
    """One line for a write of ``path`` that failed for a reason the user can fix, else None."""
    if is_disk_full(exc):
        kept = "the previous version is unchanged" if path.exists() else "nothing was written"
        if "File too large" in str(exc) or getattr(exc, "errno", None) == errno.EFBIG:
            problem = "the file grew past what this file system or the file-size limit (ulimit -f) allows"
        else:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "no space left on device"
            problem = f"the disk is full ({reason})"
        return (f"{path}: {problem}; {kept}. Free some space (or raise the limit) and run again (training "
                "continues with --resume from the last checkpoint)")
    if not isinstance(exc, OSError):
        return None
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        return f"{path}: {blocker} is a file, not a folder; choose another place to write"
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return f"{path}: a folder is in the way of this file; move it away or choose another name"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path}: cannot write there ({exc.strerror}); choose a folder you can write to"
    return None


def file_in_the_way(folder: Path) -> Path | None:
    """The first existing part of ``folder`` that is a file, not a folder (so nothing can be
    written below it), else None."""
    existing = next((p for p in (folder.absolute(), *folder.absolute().parents) if p.exists()), None)
    return existing if existing is not None and not existing.is_dir() else None


def check_writable(path: str | Path, flag: str = "-o") -> None:
    """One line, before any work, when ``path`` (a file to write) cannot be written: a file where
    one of its folders should be, or a folder that is not writable (a read-only mount too)."""
    path = Path(path)
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise UserError(f"{flag} {path}: {blocker} is a file, not a folder; choose another {flag}")
    existing = next(p for p in (path.parent.absolute(), *path.parent.absolute().parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {existing} is not writable; choose another {flag}")


def _temp_beside(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX + path.suffix, dir=path.parent)
    except OSError as exc:
        message = write_failure(path, exc)
        if message:
            raise UserError(message) from None
        raise
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.
    A full disk is one line saying that the previous file survives. ``replace=False``: a file that
    appeared at ``path`` meanwhile (another process writing the same output) is kept, and this
    write is one line instead (the file is linked into place, which fails if the name exists)."""
    path = Path(path)
    tmp_path = _temp_beside(path)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())
        yield tmp_path
        # Again after the write: a writer may have replaced the file (safetensors' save_file makes a
        # new one with mode 0600), and checkpoints should get the permissions the umask gives.
        os.chmod(tmp_path, 0o666 & ~_umask())
        _fsync(tmp_path)
        if replace:
            os.replace(tmp_path, path)
        else:
            _place_new(tmp_path, path)
        _fsync(path.parent, directory=True)
    except UserError:
        raise
    except Exception as exc:
        message = write_failure(path, exc)
        if message:
            raise UserError(message) from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def _place_new(tmp_path: Path, path: Path) -> None:
    try:
        os.link(tmp_path, path)
    except FileExistsError:
        raise UserError(f"{path}: another process wrote this file while it was being made; it was kept and "
                        "nothing was replaced (pass --overwrite to replace outputs)") from None
    except OSError:  # a file system without hard links: the narrow window of a check
        if path.exists():
            raise UserError(f"{path}: another process wrote this file while it was being made; it was kept "
                            "(pass --overwrite to replace outputs)") from None
        os.replace(tmp_path, path)


class AppendFile:
    """A text file open for appending, each :meth:`write` flushed (a log read while the run goes on);
    a full disk or another write failure is one line naming the file."""

    def __init__(self, path: Path, fd: int):
        self.path, self._file = path, os.fdopen(fd, "a", encoding="utf-8")

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            message = write_failure(self.path, exc)
            if message:
                raise UserError(message) from None
            raise

    def flush(self) -> None:
        """Each write is flushed already (kept so the object reads like a file)."""

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # what could not be flushed was reported by write()

    def __enter__(self) -> AppendFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_append(path: str | Path) -> AppendFile:
    """``path`` opened to append text (created if missing), never through a symbolic link and never
    a FIFO or a device: opening a FIFO would block, and a link or device leads the writes elsewhere."""
    path = Path(path)
    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_CLOEXEC", 0))
    if path.is_symlink():
        raise UserError(link_message(path))
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) and path.is_symlink():
            raise UserError(link_message(path)) from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise UserError(not_a_file_message(path, "a FIFO")) from None
        message = write_failure(path, exc)
        if message:
            raise UserError(message) from None
        raise
    try:
        check_own_file(path, os.fstat(fd))
        os.set_blocking(fd, True)
        return AppendFile(path, fd)
    except BaseException:
        os.close(fd)
        raise


def check_own_file(path: Path, st: os.stat_result) -> None:
    """One line unless the open file is a plain file of its own: a write in place into a FIFO or a
    device goes elsewhere, and into a hard-linked file changes its other names too (a backup made
    with ``cp -al``, or someone's file linked in)."""
    if not stat.S_ISREG(st.st_mode):
        raise UserError(not_a_file_message(path, kind_of(st.st_mode)))
    if st.st_nlink > 1:
        raise UserError(f"{path} has {st.st_nlink} hard links (the same file under other names, which a write "
                        f"here would change too); make it a file of its own: cp {path} {path}.copy && mv "
                        f"{path}.copy {path}")


def kind_of(mode: int) -> str:
    """What a file system entry is, in words, from its ``st_mode``."""
    for test, word in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return word
    return "a file"


def link_message(path: Path) -> str:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return (f"{path} is a symbolic link{target}; translate never reads or writes through a link in a run or output "
            "folder (it could lead outside it): remove the link, or put the file itself there")


def not_a_file_message(path: Path, kind: str) -> str:
    return f"{path} is {kind}, not a regular file; remove it (translate writes only plain files there)"


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete temporary files that a killed writer left in ``folder`` (only call this while holding
    the folder's run lock, when no writer can be active); returns what was removed."""
    removed = []
    for tmp in folder.glob(f".*{TEMP_SUFFIX}*"):
        if tmp.is_file() and tmp.name.startswith(".") and f"{TEMP_SUFFIX}" in tmp.name:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
