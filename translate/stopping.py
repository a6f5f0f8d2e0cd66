"""Stopping a run cleanly on a signal: SIGINT, SIGTERM or SIGHUP → one checkpoint, then exit.

:class:`_StopFlag` installs handlers (main thread only) for Ctrl-C (SIGINT), SIGTERM (docker stop,
Slurm, Kubernetes) and SIGHUP (a closed terminal or SSH session) while the loop runs, and restores
the previous handlers afterwards, however the loop ends. The first signal sets ``requested``: the
trainer finishes the current step, writes a checkpoint and raises :class:`Interrupted`, whose
``exit_code`` is the shell's convention for that signal (128 + its number). A second signal only
warns (stopping now would lose the steps since the last checkpoint); a third raises
:class:`KeyboardInterrupt` and aborts without saving. Work that can be dropped, such as an
evaluation, runs inside :meth:`_StopFlag.interrupting`: there the first signal raises
:class:`StopNow` at once, so a stop never waits for a long evaluation (docker stop gives 10 s).

:class:`CtrlCWatch` tells a real Ctrl-C from a :class:`KeyboardInterrupt` that code raised itself
(a plugin's import, say), so that the first still stops the command and the second is reported as
that code's bug.

:class:`Interrupted` is a :class:`KeyboardInterrupt`: a program that calls :func:`translate.train`
(a script, a notebook, a test runner) stops as Ctrl-C would stop it, only later and with the run
saved, instead of taking the signal for an error of this one run and carrying on.
"""

from __future__ import annotations

import contextlib
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


class StopNow(BaseException):
    """Raised by the stop handler inside :meth:`_StopFlag.interrupting` to drop the work in hand.
    A BaseException, so that a plugin's ``except Exception`` does not swallow the stop."""


_signals_received = 0  # stop signals that reached a handler of this module: tells real ones from raised ones


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP outside a training loop (apply, eval, import, ...): the command unwinds as
    for Ctrl-C, so that every ``finally`` runs and no temporary file is left beside its output,
    instead of the process vanishing mid-write. A KeyboardInterrupt: ``except Exception`` lets it by."""

    def __init__(self, signum: int):
        self.exit_code = 128 + int(signum)
        super().__init__(f"stopped by {signal.Signals(signum).name}")


_terminated_by = 0  # the signal that raised Terminated in this process (0: none)


def _raise_terminated(signum, frame):
    global _terminated_by, _signals_received
    _signals_received += 1
    _terminated_by = signum
    print(f"\n{signal.Signals(signum).name}: stopping", file=sys.stderr, flush=True)
    raise Terminated(signum)


def terminate_by_unwinding() -> None:
    """For the command line: SIGTERM and SIGHUP left at their default (which ends the process at
    once, mid-write) raise :class:`Terminated` instead. The training loop puts its own handlers
    over these while it runs."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _raise_terminated)


def exit_code_after(code: Any) -> Any:
    """The exit code of a command that ends with ``code``: click turns every interruption into
    exit 1 ("Aborted!"); one by SIGTERM or SIGHUP is 128 + the signal's number, as the shell's."""
    return 128 + int(_terminated_by) if _terminated_by and code == 1 else code


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
        self._interruptible = ""  # what the first signal drops at once (empty: nothing, finish the step)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        global _signals_received
        _signals_received += 1
        self.count += 1
        name = signal.Signals(signum).name
        if self.count == 1:
            self.requested, self.signum = True, signum
            doing = f"stopping the {self._interruptible}" if self._interruptible else "finishing this step"
            if not self.quiet:
                print(f"\n{name}: {doing}, then saving {self.describe_save()}…", file=sys.stderr, flush=True)
            if self._interruptible:
                raise StopNow
        elif self.count == 2:
            if not self.quiet:
                print(f"{name}: still saving; once more aborts now and loses the steps since the last checkpoint",
                      file=sys.stderr, flush=True)
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interrupting(self, what: str):
        """Run the block (``what``: e.g. "evaluation") so that a stop signal ends it at once with
        :class:`StopNow` instead of waiting for it; raises StopNow at once if a stop was already asked."""
        if self.requested:
            raise StopNow
        self._interruptible = what
        try:
            yield
        finally:
            self._interruptible = ""

    def __exit__(self, *exc):
        for sig, previous in self._previous.items():
            # None: a handler installed outside Python, which cannot be put back; the default is closest
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous = {}
        return False


class CtrlCWatch:
    """Within the ``with`` block, tells whether a :class:`KeyboardInterrupt` came from a SIGINT
    (a real Ctrl-C, which must still stop the command) or was raised by the code itself (a plugin
    that raises it while importing: a bug of that plugin, reported like any other). It wraps the
    SIGINT handler to count signals; off the main thread it cannot, and every KeyboardInterrupt
    counts as real."""

    def __enter__(self):
        self._seen = _signals_received
        self._previous = None
        self.watching = threading.current_thread() is threading.main_thread()
        if self.watching:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        global _signals_received
        _signals_received += 1
        previous = self._previous
        if callable(previous):
            return previous(signum, frame)
        if previous == signal.SIG_IGN:
            return None
        raise KeyboardInterrupt  # SIG_DFL, or a handler installed outside Python: stop, as Ctrl-C would

    def is_real(self, exc: BaseException) -> bool:
        """Whether ``exc`` (a KeyboardInterrupt caught inside the block) was a signal, not a raise."""
        return isinstance(exc, (Interrupted, Terminated)) or not self.watching or _signals_received != self._seen

    def __exit__(self, *exc):
        if self.watching:
            signal.signal(signal.SIGINT, signal.SIG_DFL if self._previous is None else self._previous)
        return False
