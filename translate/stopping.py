"""Stopping a run cleanly on a signal: SIGINT, SIGTERM or SIGHUP → one checkpoint, then exit.

:class:`_StopFlag` installs handlers (main thread only) for Ctrl-C (SIGINT), SIGTERM (docker stop,
Slurm, Kubernetes) and SIGHUP (a closed terminal or SSH session) while the loop runs, and restores
the previous handlers afterwards, however the loop ends. The first signal sets ``requested``: the
trainer finishes the current step, writes a checkpoint and raises :class:`Interrupted`, whose
``exit_code`` is the shell's convention for that signal (128 + its number). A second signal only
warns (stopping now would lose the steps since the last checkpoint); a third raises
:class:`KeyboardInterrupt` and aborts without saving.

:class:`Interrupted` is a :class:`KeyboardInterrupt`: a program that calls :func:`translate.train`
(a script, a notebook, a test runner) stops as Ctrl-C would stop it, only later and with the run
saved, instead of taking the signal for an error of this one run and carrying on.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Raised after Ctrl-C or SIGTERM once the checkpoint is safely written; ``exit_code`` is the
    shell's convention for that signal (130 for SIGINT, 143 for SIGTERM). Not an :class:`Exception`:
    ``except Exception`` in the caller must not swallow the user's request to stop."""

    def __init__(self, step: int, out_dir: Path, signum: int = signal.SIGINT):
        self.exit_code = 128 + int(signum)
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out_dir} "
                         f"(continue with --resume {out_dir})")


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def ignore_stop_signals() -> None:
    """For a process that exits because its run was interrupted and saved: one more Ctrl-C must not
    turn that exit into a traceback. Only the command line calls this, on its way out; a caller
    that lives on keeps its own handlers."""
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


class _StopFlag:
    """Ctrl-C (SIGINT), SIGTERM (docker stop, Slurm, Kubernetes) and SIGHUP (a closed terminal or
    SSH session) ask the loop to stop after the current step and save a checkpoint. A second
    signal only warns (stopping now would lose the steps since the last checkpoint); a third
    aborts without saving. The handlers last exactly as long as the ``with`` block."""

    SIGNALS = STOP_SIGNALS

    def __init__(self, describe_save=lambda: "a checkpoint", quiet: bool = False):
        self.requested = False
        self.signum = signal.SIGINT
        self.count = 0
        self.describe_save = describe_save
        self.quiet = quiet  # torchrun ranks other than 0: rank 0 says it
        self._previous: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.requested, self.signum = True, signum
            if not self.quiet:
                print(f"\n{name}: finishing this step, then saving {self.describe_save()}…", file=sys.stderr,
                      flush=True)
        elif self.count == 2:
            if not self.quiet:
                print(f"{name}: still saving; once more aborts now and loses the steps since the last checkpoint",
                      file=sys.stderr, flush=True)
        else:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            # None: a handler installed outside Python, which cannot be put back; the default is closest
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous = {}
        return False
