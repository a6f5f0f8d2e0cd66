"""A one-line progress display (step, losses, images/s, ETA) without extra dependencies."""

from __future__ import annotations

import sys
import time


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    def __init__(self, total: int, start: int = 0, stream=None, enabled: bool = True):
        self.total, self.start = total, start
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last_print = 0.0
        self.every = max(1, (total - start) // 20)

    def update(self, step: int, logs: dict[str, float], images_per_s: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        done = step - self.start
        if self.tty:
            if now - self.last_print < 0.2 and step < self.total:
                return
        elif done % self.every and step < self.total:
            return
        self.last_print = now
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else 0.0
        losses = " ".join(f"{k} {v:.3g}" for k, v in logs.items())
        line = f"step {step}/{self.total} | {losses} | {images_per_s:.0f} img/s | eta {_fmt_time(eta)}"
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
            if step >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
