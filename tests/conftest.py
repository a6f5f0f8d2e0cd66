"""Shared test helpers: run the CLI in-process or in a subprocess, and keep torch on 2 threads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
