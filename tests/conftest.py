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
