"""Shared test helpers: run the CLI in-process or in a subprocess, keep torch on 2 threads, and make
sure no test leaves a stop signal's handler changed (Ctrl-C must always reach pytest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """A test that leaves a stop signal's handler changed (a run that installs its Ctrl-C handler
    and never puts pytest's back) fails, and the handler is put back: otherwise Ctrl-C and
    SIGTERM stop reaching pytest for the rest of the session."""
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    yield
    changed = [signal.Signals(sig).name for sig in STOP_SIGNALS if signal.getsignal(sig) != before[sig]]
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) != before[sig] and before[sig] is not None:
            signal.signal(sig, before[sig])
    if changed:
        pytest.fail(f"the test left the handler of {', '.join(changed)} changed", pytrace=False)


def _stopped_by_signal(result) -> bool:
    """click turns a Ctrl-C inside a command into "Aborted!" and exit 1, and an interrupted training
    exits 128 + the signal's number after saving: either means the user asked the suite to stop."""
    aborted = result.exit_code == 1 and result.output.rstrip().endswith("Aborted!")
    return aborted or result.exit_code in (128 + signal.SIGINT, 128 + signal.SIGTERM)


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_in_process_commands_stops_the_suite():
    """A Ctrl-C during a command run in-process with click's runner (through the ``cli`` fixture
    or a test's own helper) ends as that command's exit code, which click's runner returns: raise
    it again, so the suite stops instead of one test failing and the next starting."""
    from click.testing import CliRunner

    invoke = CliRunner.invoke

    def invoke_then_check(self, *args, **kwargs):
        result = invoke(self, *args, **kwargs)
        if _stopped_by_signal(result):
            raise KeyboardInterrupt
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CliRunner, "invoke", invoke_then_check)
        yield


@pytest.fixture
def cli():
    """Run ``translate ARGS...`` in-process with click's runner; returns the click Result.
    Pass ``ok=False`` to expect a failure."""
    from click.testing import CliRunner

    from translate.cli import cli as command

    def run(*args: str, ok: bool = True):
        result = CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


@pytest.fixture
def cli_subprocess():
    """Run ``python -m translate ARGS...`` in a subprocess; returns CompletedProcess (text)."""

    def run(*args: str, ok: bool = True, env: dict | None = None, timeout: float = 600):
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.run([sys.executable, "-m", "translate", *map(str, args)], capture_output=True,
                              text=True, env=full_env, timeout=timeout)
        if ok:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    return run


def one_line(result) -> str:
    """The CLI's error in a click result: exactly one "Error:" line and no traceback (click's usage
    errors add a usage line); returns that line."""
    text = result.output.strip()
    assert result.exit_code != 0, text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert "Traceback" not in text and len(errors) == 1, text
    return errors[0]


@pytest.fixture
def error_line():
    """:func:`one_line`, for tests: ``error_line(cli(..., ok=False))``."""
    return one_line


@pytest.fixture(scope="session")
def tiny_cyclegan_run(tmp_path_factory):
    """The smallest CycleGAN that can apply: one step on 16 px shapes, a few seconds on a CPU."""
    import translate

    out = tmp_path_factory.mktemp("tiny_cyclegan") / "cg"
    translate.train("cyclegan", a="shapes", b="shapes-inverted", size=16, steps=1, gen_features=4, disc_features=4,
                    disc_layers=2, n_blocks=1, sample_every=0, out=out, progress=False, device="cpu")
    return out


@pytest.fixture(scope="session")
def tiny_gan_run(tmp_path_factory):
    """The smallest image GAN: one step on 16 px shapes, a few seconds on a CPU. Shared by the whole
    session: a test that changes the run works on a copy (``shutil.copytree``)."""
    import translate

    out = tmp_path_factory.mktemp("tiny_gan") / "gan"
    translate.train("gan", out=out, data="shapes", size=16, batch_size=2, features=4, latent_dim=8, steps=1,
                    sample_every=0, progress=False, device="cpu")
    return out


@pytest.fixture(scope="session")
def tiny_points_run(tmp_path_factory):
    """A one-step GAN of 2-D points (ring8), shared by the session like :func:`tiny_gan_run`."""
    import translate

    out = tmp_path_factory.mktemp("tiny_points") / "pts"
    translate.train("gan", out=out, data="ring8", batch_size=8, steps=1, sample_every=0, progress=False,
                    device="cpu")
    return out


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny tensors: a second thread only adds synchronisation,
    which on a busy 2-core machine costs far more than the work (restored afterwards). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
