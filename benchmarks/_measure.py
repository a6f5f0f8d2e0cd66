"""What the speed benchmarks share: the resident memory of this process (Linux), step timing, and
one measurement per subprocess (a clean process per row, so peak memory is that row's own)."""

from __future__ import annotations

import json
import subprocess
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


def run_row(cmd: list[str], label: str) -> dict | None:
    """Run one benchmark row in its own process; the dict it printed as ``RESULT {json}``, or None
    after printing the tail of its error output."""
    out = subprocess.run(cmd, capture_output=True, text=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if out.returncode or line is None:
        print(f"\n=== {label}: failed ===\n{(out.stderr or out.stdout)[-3000:]}", flush=True)
        return None
    return json.loads(line[len("RESULT "):])
