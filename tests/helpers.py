"""Small helpers shared by test files (importable as ``helpers``: pytest puts this folder, which
holds the root conftest.py, on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def random_images(folder: Path, n: int = 6, size: int = 24, seed: int = 0) -> Path:
    """``n`` random RGB PNGs of ``size``² in ``folder`` (made if needed): data that only has to load."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def popen_translate(*args: str) -> subprocess.Popen:
    """``python -m translate ARGS`` in the background, unbuffered, with pipes for its output."""
    return subprocess.Popen([sys.executable, "-m", "translate", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def wait_for_steps(log: Path, steps: int, timeout: float = 120) -> None:
    """Until a run's log.jsonl holds ``steps`` lines (or ``timeout`` seconds pass)."""
    deadline = time.time() + timeout
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= steps):
        time.sleep(0.2)
