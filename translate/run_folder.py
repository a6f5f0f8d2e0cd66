"""A run folder: the name of every file in it, and its life cycle.

    RUN/model.safetensors   the inference weights and the run's metadata (what apply/sample load)
        state.safetensors   the training state that --resume continues from
        best.safetensors    the best model by --keep-best
        config.toml         the resolved config (``translate train PLUGIN --config`` reads it back)
        log.jsonl           the losses, one JSON object per logged step
        metrics.jsonl       one JSON object per --eval-every evaluation
        eval/               what the latest evaluation measured, and its metrics.json
        samples/step-N.png  the preview grid of each checkpoint; samples.png is the latest
        samples/layout.json what the latest grid's columns and rows show (the page's captions)
        index.html          the run's page; curves.png is written by ``translate plot``
        tensorboard/        TensorBoard events (--tensorboard)
        .lock               held while a training process uses the folder

One rule for every file of a run: it is opened only as what the layout above says (a plain file,
or a folder) and never through a symbolic link, so nothing in a run folder can lead a read or a
write outside it. :func:`check_contents` walks the run's own entries (and everything below its
folders) before a run starts, resumes or is reported on, and refuses a link, a FIFO, a socket or
a device, or a folder where a file belongs (and the reverse), with one line naming it. The run
folder itself may be reached through a link (``--out`` on another disk); only what is inside it
is checked. The writers keep to the rule on their own too: checkpoints, samples, configs and pages
are written to a new temporary file and renamed (:func:`translate.fileio.atomic_path`, which
replaces a link instead of following it), the logs are opened with ``O_NOFOLLOW`` as plain files
only (:func:`translate.fileio.open_append`), and so is the lock.

Life cycle: a new run's folder is checked before the data are read (:func:`check_new`: not a run
already, not someone's files, writable; a run that stopped before its first checkpoint is cleared
and started again). The training process then claims it (:func:`claim`): an OS file lock that dies
with its process, so two ``translate train`` on one ``--out`` never interleave their logs or
overwrite each other's checkpoints, even after ``kill -9`` (``flock`` on ``RUN/.lock``, ``msvcrt``
on Windows; the file records the holder's pid for the error message), and the temporary files a
killed writer left are removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
from pathlib import Path
from typing import Iterator

from .errors import UserError
from .fileio import TEMP_SUFFIX, check_own_file, kind_of, link_message, not_a_file_message, remove_stale_temps

MODEL_FILE = "model.safetensors"
STATE_FILE = "state.safetensors"
BEST_FILE = "best.safetensors"
CONFIG_FILE = "config.toml"
LOG_FILE = "log.jsonl"
METRICS_LOG_FILE = "metrics.jsonl"
EVAL_DIR = "eval"
SAMPLES_DIR = "samples"
LATEST_SAMPLES = "samples.png"
INDEX_FILE = "index.html"
CURVES_FILE = "curves.png"
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = ".lock"

SAMPLE_PREFIX, SAMPLE_SUFFIX = "step-", ".png"
SAMPLES_LAYOUT = "layout.json"  # in SAMPLES_DIR: the captions of the grids (translate.plugin.Preview)

# What a run writes into its folder: finding one of these without the training state means the
# folder holds someone's files (or a copied model), which a new run must not overwrite.
RUN_FILES = (MODEL_FILE, CONFIG_FILE, LOG_FILE, LATEST_SAMPLES, SAMPLES_DIR)
# What a run has written before its first checkpoint (besides config.toml and its lock): an
# evaluation may come before it (--eval-every below --checkpoint-every).
START_FILES = (LOG_FILE, SAMPLES_DIR, LATEST_SAMPLES, INDEX_FILE, TENSORBOARD_DIR, METRICS_LOG_FILE, EVAL_DIR,
               BEST_FILE)
# Files written in place (appended to, or truncated): the only ones where a hard link matters.
WRITTEN_IN_PLACE = (LOG_FILE, METRICS_LOG_FILE, LOCK_FILE)
# The run's own entries, by kind; anything else in the folder is not the run's and is left alone.
RUN_FOLDERS = (SAMPLES_DIR, EVAL_DIR, TENSORBOARD_DIR)
RUN_PLAIN_FILES = (MODEL_FILE, STATE_FILE, BEST_FILE, CONFIG_FILE, LOG_FILE, METRICS_LOG_FILE, LATEST_SAMPLES,
                   INDEX_FILE, CURVES_FILE, LOCK_FILE)
# The header translate writes at the top of a run's config.toml (dumps_toml prefixes "# ").
RUN_CONFIG_HEADER = "# Resolved config of this run"


def sample_file(run_dir: str | Path, step: int) -> Path:
    """``RUN/samples/step-0000100.png``: the preview grid of ``step``."""
    return Path(run_dir) / SAMPLES_DIR / f"{SAMPLE_PREFIX}{step:07d}{SAMPLE_SUFFIX}"


def sample_step(name: str) -> int | None:
    """The step of a preview grid's file name (``step-0000100.png`` → 100), else None."""
    digits = name[len(SAMPLE_PREFIX):-len(SAMPLE_SUFFIX)]
    if name.startswith(SAMPLE_PREFIX) and name.endswith(SAMPLE_SUFFIX) and digits.isdigit() and digits.isascii():
        return int(digits)
    return None


def holds_run(run_dir: Path) -> bool:
    """Whether a run's training state is there (a run to --resume)."""
    return (run_dir / STATE_FILE).exists()


# ---- what a run folder may hold ----------------------------------------------------------------------

def check_contents(run_dir: Path) -> None:
    """One line naming the first of the run's entries that breaks the rule of this module (a link,
    a FIFO, socket or device, or a folder where a file belongs and the reverse), looking inside the
    run's folders too. Nothing is followed, opened or changed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return
    for name in (*RUN_PLAIN_FILES, *RUN_FOLDERS):
        path = run_dir / name
        try:
            st = os.lstat(path)
        except OSError:
            continue
        mode = st.st_mode
        problem = _entry_problem(path, mode, folder=name in RUN_FOLDERS)
        if problem:
            raise UserError(problem)
        if name in WRITTEN_IN_PLACE:
            check_own_file(path, st)
        if stat.S_ISDIR(mode):
            for entry_path, entry_mode in _walk(path):
                problem = _entry_problem(entry_path, entry_mode, folder=stat.S_ISDIR(entry_mode))
                if problem:
                    raise UserError(problem)


def _walk(folder: Path) -> Iterator[tuple[Path, int]]:
    """(path, st_mode) of everything below ``folder``, without following links (a loop, not
    recursion: a received folder may be nested thousands deep)."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                found = [(Path(e.path), e.stat(follow_symlinks=False).st_mode) for e in entries]
        except OSError as exc:
            raise UserError(f"{current}: cannot be read ({exc.strerror}); the run's folders must be readable") from None
        for path, mode in found:
            yield path, mode
            if stat.S_ISDIR(mode):
                pending.append(path)


def _entry_problem(path: Path, mode: int, folder: bool) -> str | None:
    if stat.S_ISLNK(mode):
        return link_message(path)
    if folder and not stat.S_ISDIR(mode):
        return f"{path} is {kind_of(mode)} where the run keeps a folder; move it away (or remove it)"
    if not folder and stat.S_ISDIR(mode):
        return f"{path} is a folder where the run keeps a file; move it away (or remove it)"
    if not folder and not stat.S_ISREG(mode):
        return not_a_file_message(path, kind_of(mode))
    return None


def check_resumable(run_dir: Path) -> None:
    """A run folder to --resume: its own files are what they should be (read back before anything
    is written), no training process holds it, and it can be written to."""
    check_contents(run_dir)
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"--resume {run_dir}: the folder is not writable (a read-only copy or mount?); copy the "
                        "run somewhere you can write and resume that")
    check_free(run_dir)


# ---- a new run's folder ---------------------------------------------------------------------------

def check_new(out_dir: Path) -> None:
    """A new run's folder: not a run already, not someone's files, and writable."""
    check_contents(out_dir)
    check_free(out_dir)
    if holds_run(out_dir):
        raise UserError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir}, "
                        "or choose another --out")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder for the run")
    if stopped_before_first_checkpoint(out_dir):
        print(f"note: --out {out_dir} holds a run that stopped before its first checkpoint (nothing to resume); "
              "starting it again there", file=sys.stderr)
        clear_unfinished_start(out_dir)
    taken = [name for name in RUN_FILES if (out_dir / name).exists()]
    if taken:
        raise UserError(f"--out {out_dir} already holds {', '.join(taken)} but no training state: a new run would "
                        "overwrite them; choose another --out (or move those files away)")
    existing = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"--out {out_dir}: {existing} is a file, not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out_dir}: {existing} is not writable; choose an --out you can write to")


def stopped_before_first_checkpoint(out_dir: Path) -> bool:
    """A folder where a run began (its own config.toml) but stopped, crashed or was killed before it
    wrote a checkpoint: no model, no state, nothing but the files a run writes when it starts. A new
    run may start there again instead of refusing the folder (there is nothing to resume)."""
    config = out_dir / CONFIG_FILE
    if not config.is_file() or (out_dir / MODEL_FILE).exists() or holds_run(out_dir):
        return False
    try:
        with open(config, "rb") as f:  # its first line only: the file may be anyone's, of any size
            head = f.read(len(RUN_CONFIG_HEADER.encode()))
        if not head.decode("utf-8", "replace").startswith(RUN_CONFIG_HEADER):
            return False  # someone's own config.toml
    except OSError:
        return False
    allowed = {CONFIG_FILE, LOCK_FILE, *START_FILES}
    return all(p.name in allowed or TEMP_SUFFIX in p.name for p in out_dir.iterdir())


def clear_unfinished_start(out_dir: Path) -> None:
    """Remove what the stopped run wrote, so the new run's log and samples start clean."""
    for name in (CONFIG_FILE, *START_FILES):
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():  # check_contents refused links before
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


# ---- one training process per folder ----------------------------------------------------------------

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


def _open_lock(path: Path, create: bool) -> int:
    """The lock file's descriptor: a plain file, never through a link (``pid N`` would be written
    into the link's target) and never a FIFO (the open would block)."""
    flags = (os.O_RDWR | (os.O_CREAT if create else 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_CLOEXEC", 0))
    if path.is_symlink():
        raise UserError(link_message(path))
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if path.is_symlink():
            raise UserError(link_message(path)) from None
        fix = ("choose a folder you can write to" if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
               else "remove it")
        raise UserError(f"{path}: cannot open the run folder's lock ({exc.strerror}); {fix}") from None
    try:
        check_own_file(path, os.fstat(fd))
    except UserError:
        os.close(fd)
        raise
    return fd


def busy_message(out_dir: Path, holder: str) -> str:
    return (f"--out {out_dir}: a 'translate train' ({holder}) is already using this run folder; wait for it to "
            "finish, or choose another --out")


def check_free(out_dir: Path) -> None:
    """One line if a training process holds ``out_dir`` now (checked before anything else, so the
    message names the real reason); the lock itself is taken by :func:`run_lock`."""
    path = out_dir / LOCK_FILE
    if not path.is_file() or path.is_symlink():
        return  # a link is refused by check_contents, and by run_lock, which never follows it
    fd = _open_lock(path, create=False)
    try:
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            raise UserError(busy_message(out_dir, os.read(fd, 32).decode(errors="replace").strip() or "another process"))
    finally:
        os.close(fd)


def in_use(out_dir: Path) -> bool:
    """Whether a training process holds ``out_dir`` now (its page is then a live one)."""
    path = out_dir / LOCK_FILE
    if not path.is_file() or path.is_symlink():
        return False
    try:
        fd = _open_lock(path, create=False)
    except UserError:  # unreadable: nothing can be said, and the page is only a page
        return False
    try:
        return not _try_lock(fd)  # a lock taken here is released with the descriptor
    finally:
        os.close(fd)


@contextlib.contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold the lock of ``out_dir`` for the block; a second holder gets one line and nothing is
    written. A folder this call created is removed again if the block fails before writing into it."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    fd = _open_lock(path, create=True)
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


@contextlib.contextmanager
def claim(out_dir: Path, resume: bool) -> Iterator[None]:
    """Hold ``out_dir`` for a training run: its lock, no run finished there meanwhile (for a new
    run), its own files what they should be, and no temporaries that a killed writer left (none can
    be active while we hold the lock)."""
    with run_lock(out_dir):
        if not resume and holds_run(out_dir):
            raise UserError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir}")
        check_contents(out_dir)  # again: the folder may have changed since the checks before the data were read
        remove_stale_temps(out_dir)
        yield
