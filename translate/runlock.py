"""One training process per run folder: an OS file lock that dies with its process.

Two ``translate train`` on the same ``--out`` would otherwise both run, interleave ``log.jsonl``
and overwrite each other's checkpoints. The lock is ``flock`` on ``RUN/.lock`` (``msvcrt`` on
Windows): the kernel releases it when the process exits, even after ``kill -9``, so a stale lock
never blocks the next run. The file records the holder's pid for the error message.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .errors import UserError

LOCK_FILE = ".lock"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def busy_message(out_dir: Path, holder: str) -> str:
    return (f"--out {out_dir}: a 'translate train' ({holder}) is already using this run folder; wait for it to "
            "finish, or choose another --out")


def check_free(out_dir: Path) -> None:
    """One line if a training process holds ``out_dir`` now (checked before anything else, so the
    message names the real reason); the lock itself is taken by :func:`run_lock`."""
    path = out_dir / LOCK_FILE
    if not path.is_file():
        return
    fd = os.open(path, os.O_RDWR)
    try:
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            raise UserError(busy_message(out_dir, os.read(fd, 32).decode(errors="replace").strip() or "another process"))
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold the lock of ``out_dir`` for the block; a second holder gets one line and nothing is
    written. A folder this call created is removed again if the block fails before writing into it."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            raise UserError(busy_message(out_dir, holder))
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()}".encode())
        try:
            yield
        except BaseException:
            if created and [p.name for p in out_dir.iterdir()] == [LOCK_FILE]:
                path.unlink(missing_ok=True)  # still locked by us: nobody else can be using it
                out_dir.rmdir()
            raise
    finally:
        os.close(fd)  # closing the descriptor releases the lock
