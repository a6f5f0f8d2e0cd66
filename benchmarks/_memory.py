"""Resident memory of this process, for the benchmarks' peak-memory figures (Linux)."""

from __future__ import annotations


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
