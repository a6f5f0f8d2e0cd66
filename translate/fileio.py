"""Atomic writes: a reader never sees a half-written checkpoint, image or config, and a crash or
a full disk leaves the previous file in place.

The data go to a temporary file beside the target, are flushed to disk (fsync), then renamed over
the target, and the folder entry is flushed too, so that after a power cut the folder holds either
the old file or the new one. The temporary file gets the permissions a plain ``open`` would give
(0666 minus the umask), not mkstemp's private 0600.
"""

from __future__ import annotations

import contextlib
import errno
import os
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


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.
    A full disk is one line saying that the previous file survives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())
        yield tmp_path
        # Again after the write: a writer may have replaced the file (safetensors' save_file makes a
        # new one with mode 0600), and checkpoints should get the permissions the umask gives.
        os.chmod(tmp_path, 0o666 & ~_umask())
        _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent, directory=True)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "the previous version is unchanged" if path.exists() else "nothing was written"
            raise UserError(f"{path}: the disk is full ({exc.strerror}); {kept}. Free some space and "
                            "run again (training continues with --resume from the last checkpoint)") from None
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


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
