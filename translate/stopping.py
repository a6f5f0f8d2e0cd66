"""Stopping a run cleanly on a signal: SIGINT, SIGTERM or SIGHUP → one checkpoint, then exit.

:class:`_StopFlag` installs handlers (main thread only) for Ctrl-C (SIGINT), SIGTERM (docker stop,
Slurm, Kubernetes) and SIGHUP (a closed terminal or SSH session) while the loop runs, and restores
the previous handlers afterwards. The first signal sets ``requested``: the trainer finishes the
current step, writes a checkpoint and raises :class:`Interrupted`, whose ``exit_code`` is the
shell's convention for that signal (128 + its number). A second signal only warns (stopping now
would lose the steps since the last checkpoint); a third raises :class:`KeyboardInterrupt` and
aborts without saving.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any


class Interrupted(Exception):
    """Raised after Ctrl-C or SIGTERM once the checkpoint is safely written; ``exit_code`` is the
    shell's convention for that signal (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, step: int, out_dir: Path, signum: int = signal.SIGINT):
        self.exit_code = 128 + int(signum)
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out_dir} "
                         f"(continue with --resume {out_dir})")



class _StopFlag:
    """Ctrl-C (SIGINT), SIGTERM (docker stop, Slurm, Kubernetes) and SIGHUP (a closed terminal or
    SSH session) ask the loop to stop after the current step and save a checkpoint. A second
    signal only warns (stopping now would lose the steps since the last checkpoint); a third
    aborts without saving."""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

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
            signal.signal(sig, previous)
        return False
