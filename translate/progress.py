"""What a run says while it trains: how long it will take, measured, and how it is going.

On a terminal, a tqdm bar (step, s/step or steps/s, images/s, losses, ETA). Elsewhere (nohup,
tee, Slurm logs) plain lines, one after the first step and then at least every 30 seconds, so a
log never goes quiet. After the first few steps every run prints its measured speed and the
estimated total time; when that is long for the device, it says so once and names a step count
that fits half an hour.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

ESTIMATE_AFTER_S = 10.0  # measure this long (and at least 3 steps) before estimating
LONG_RUN_S = {"cpu": 2 * 3600.0}  # a run longer than this on the device gets a suggestion
LINE_EVERY_S = 30.0  # without a terminal, a progress line at least this often


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def format_rate(seconds_per_step: float) -> str:
    """'2.4 s/step' below one step a second, '35 steps/s' above: readable at any speed."""
    if seconds_per_step >= 1.0:
        return f"{seconds_per_step:.1f} s/step"
    return f"{1.0 / max(seconds_per_step, 1e-9):.1f} steps/s"


def format_logs(logs: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in logs.items()) or "(losses at the first --log-every)"


class Progress:
    """Progress of a run from step ``start`` to ``total`` on ``device``."""

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None, enabled: bool = True,
                 device: str = "cpu"):
        self.total, self.start, self.device = total, start, device
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.t0 = time.perf_counter()
        self.first_step_t: float | None = None
        self.last_line = 0.0
        self.estimated = False
        self.bar = None
        if enabled and self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, file=self.stream, unit="step", dynamic_ncols=True,
                            smoothing=0.1, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] "
                                                      "{postfix}")

    def _seconds_per_step(self, step: int, now: float) -> float | None:
        """Speed measured after the first step, whose set-up cost (allocations, caches) would
        otherwise inflate every estimate."""
        done = step - self.start - 1
        if self.first_step_t is None or done < 1:
            return None
        return (now - self.first_step_t) / done

    def seconds_per_step(self, step: int) -> float | None:
        """The s/step shown now for ``step``: the mean wall time of the steps after this session's
        first, previews, evaluations and checkpoints included (None until two steps are done).
        The trainer logs it, so the run page shows the terminal's figure."""
        return self._seconds_per_step(step, time.perf_counter())

    def update(self, step: int, logs: dict[str, float], images_per_s: float) -> None:
        now = time.perf_counter()
        if self.first_step_t is None:  # even when quiet: seconds_per_step is logged
            self.first_step_t = now
        if not self.enabled:
            return
        per_step = self._seconds_per_step(step, now)
        if per_step is not None and not self.estimated and (now - self.t0 >= ESTIMATE_AFTER_S or step >= self.total) \
                and step - self.start >= 3:
            self.estimated = True
            self._estimate(per_step)
        rate = format_rate(per_step) if per_step else "measuring"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rate}, {images_per_s:.3g} img/s | {format_logs(logs)}", refresh=False)
            self.bar.update(step - self.bar.n)
            return
        if step == self.start + 1 or now - self.last_line >= LINE_EVERY_S or step >= self.total:
            self.last_line = now
            eta = f" | eta {format_duration((self.total - step) * per_step)}" if per_step else ""
            self._say(f"step {step}/{self.total} | {format_logs(logs)} | {rate}, {images_per_s:.3g} img/s{eta}")

    def _estimate(self, per_step: float) -> None:
        remaining = (self.total - self.start) * per_step
        self._say(f"measured {format_rate(per_step)} on {self.device}: {self.total - self.start:,} steps take about "
                  f"{format_duration(remaining)}")
        limit = LONG_RUN_S.get(self.device)
        if limit and remaining > limit:
            fits = max(1, int(1800 / per_step))
            self._say(f"that is long for a {self.device}: --steps {fits:,} gives a short run of about 30 min (a "
                      "smaller --size or --batch-size is faster still); Ctrl-C saves a checkpoint at any time and "
                      "--resume continues")

    def _say(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ItemProgress:
    """Progress over items (files to translate), with the tiles of the current item as a note.
    On a terminal a tqdm bar; elsewhere nothing for the first ``LINE_EVERY_S`` (a short job stays
    quiet), then a plain line at least that often."""

    def __init__(self, total: int, unit: str = "image", stream: TextIO | None = None, enabled: bool = True,
                 label: str = "", every: float | None = None):
        self.total, self.unit, self.done, self.label = total, unit, 0, label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.every = LINE_EVERY_S if every is None else every  # read when made, so tests can shorten it
        self.t0 = self.last_line = time.perf_counter()
        self.bar = None
        if enabled and getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, unit=unit, dynamic_ncols=True, leave=False,
                            desc=label or None)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        self._maybe_say("")

    def note(self, text: str) -> None:
        """E.g. 'tile 3/12 of big.jpg' while one large image is in progress."""
        if self.bar is not None:
            self.bar.set_postfix_str(text)
        self._maybe_say(f" ({text})")

    def _maybe_say(self, extra: str) -> None:
        now = time.perf_counter()
        if self.bar is None and self.enabled and now - self.last_line >= self.every:
            self.last_line = now
            left = self.total - self.done
            eta = f", eta {format_duration(left * (now - self.t0) / self.done)}" if self.done and left > 0 else ""
            self.stream.write(f"{self.label + ': ' if self.label else ''}{self.done}/{self.total} {self.unit}(s) in "
                              f"{format_duration(now - self.t0)}{eta}{extra}\n")
            self.stream.flush()

    def write(self, line: str) -> None:
        """A line for the user (a per-image result, say) above the bar, which stays whole."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StageProgress:
    """Progress through the stages of a job (generating, features of the real images, pairs...),
    called as ``progress(stage, done, total)``: one :class:`ItemProgress` per stage, labelled with
    it. Without a terminal the line clock runs across stages, so a job of many short stages
    still says something at least every ``LINE_EVERY_S``. ``write(line)`` prints a line above
    the bar. Disabled, it says nothing."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True, unit: str = "image"):
        self.stream, self.enabled, self.unit = stream, enabled, unit
        self.current: ItemProgress | None = None
        self.stage = ""
        self.last_line = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        item = self.current
        if item is None or stage != self.stage or total != item.total or done < item.done:
            self.close()
            item = self.current = ItemProgress(total, self.unit, self.stream, label=stage)
            item.last_line, self.stage = self.last_line, stage
        item.advance(done - item.done)
        self.last_line = item.last_line

    def write(self, line: str) -> None:
        if not self.enabled:
            return
        if self.current is not None:
            self.current.write(line)
        else:
            stream = self.stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def close(self) -> None:
        if self.current is not None:
            self.last_line = self.current.last_line
            self.current.close()
            self.current = None


def stage(message: str, enabled: bool = True) -> None:
    """One line before a phase that may take a while (reading data, building networks)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)
