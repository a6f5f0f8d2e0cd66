"""What the speed benchmarks share: the resident memory of this process (Linux) and step timing."""

from __future__ import annotations

import time
from collections.abc import Callable


def rss_mib() -> float:
    """The current resident set size in MiB (``VmRSS``), NaN where /proc is not available."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass  # not Linux: the figure is simply missing
    return float("nan")


def time_steps(step: Callable[[], object], warmup: int, steps: int) -> tuple[float, float]:
    """(seconds per step over ``steps`` timed calls after ``warmup`` untimed ones, the resident MiB
    just before the first call)."""
    before = rss_mib()
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps, before
