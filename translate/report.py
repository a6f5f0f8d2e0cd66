"""Look at a run: its loss and metric curves as a PNG (``translate plot``) and ``RUN/index.html``,
a static page with the sample grids, the curves, the metrics and the config.

A run folder (see :mod:`translate.run_folder`) holds ``log.jsonl`` (one JSON object per logged step),
``metrics.jsonl`` (one per evaluation, when ``--eval-every`` is on), ``config.toml``,
``samples/step-N.png``, ``samples.png`` and ``samples/layout.json`` (what the grids' columns and
rows show, from the plugin's :class:`translate.plugin.Preview`). Nothing here needs torch; the PNG needs matplotlib
(imported only by :func:`write_plot`), the page needs nothing: its charts are inline SVG drawn
here, and every link in it is relative, so the folder can be copied elsewhere and still shows.
The trainer writes the page when a run starts and rewrites it after every preview and checkpoint
(always after the files it shows), so it stays cheap: logs are read incrementally. While the run
trains the page reloads itself; the page written at the end does not.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from .errors import UserError
from .fileio import atomic_path
from .limits import MAX_METADATA_BYTES, read_text, tail_start
from .metric_goals import CORE_GOALS, goal_table, lookup, metric_goal
from .run_folder import (BEST_FILE, CONFIG_FILE, CURVES_FILE, INDEX_FILE, LATEST_SAMPLES, LOG_FILE, METRICS_LOG_FILE,
                         MODEL_FILE, SAMPLES_DIR, SAMPLES_LAYOUT, TENSORBOARD_DIR, check_contents, sample_step)

# Keys of log.jsonl / metrics.jsonl that are bookkeeping, not curves.
LOG_BOOKKEEPING = frozenset({"step", "images_per_s", "seconds", "seconds_per_step", "world_size", "global_batch",
                             "data_position"})
METRIC_BOOKKEEPING = frozenset({"step", "seconds", "images_per_s"})
MATPLOTLIB_MISSING = 'translate plot needs matplotlib: pip install "translate-gan[plot]"'


# ---- reading ---------------------------------------------------------------------------------------
_READ_CACHE: dict[str, tuple[tuple[int, int], int, bytes, list[dict[str, Any]]]] = {}
_CHECK_BYTES = 64


def _parse_lines(lines: list[str]) -> list[Any]:
    lines = [line for line in lines if line.strip()]
    try:  # fast path: all lines parsed in one call
        return json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue
        return parsed


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file, one per line, in file order. Lines that are not a
    JSON object (a last line cut short by a killed run, junk) are skipped; a missing file is ``[]``.

    A file read before and only appended to since is read from where the last read ended (the
    trainer rewrites index.html at every checkpoint of an ever longer log). Do not modify the
    returned records."""
    key = os.path.abspath(path)
    try:
        with open(key, "rb") as f:
            st = os.fstat(f.fileno())
            ident = (st.st_dev, st.st_ino)
            records: list[dict[str, Any]] = []
            offset, check = 0, b""
            cached = _READ_CACHE.get(key)
            if cached is not None and cached[0] == ident and st.st_size >= cached[1]:
                f.seek(cached[1] - len(cached[2]))
                if f.read(len(cached[2])) == cached[2]:  # the same file, appended to
                    records, offset, check = list(cached[3]), cached[1], cached[2]
            skipped = st.st_size - offset > MAX_METADATA_BYTES
            if skipped:  # a log this long is read from its last part: bounded memory, and the run goes on
                records, check, offset = [], b"", tail_start(st.st_size)
            f.seek(offset)
            data = f.read(MAX_METADATA_BYTES)
    except FileNotFoundError:
        return []
    if skipped:  # the part of a line before where reading began
        first = data.find(b"\n") + 1
        data, offset = data[first:], offset + first
    end = data.rfind(b"\n") + 1  # complete lines end with a newline; a partial one is not kept
    complete, partial = data[:end], data[end:]
    if complete:
        records.extend(r for r in _parse_lines(complete.decode("utf-8", "replace").splitlines())
                       if isinstance(r, dict))
        _READ_CACHE.pop(key, None)
        while len(_READ_CACHE) >= 16:
            _READ_CACHE.pop(next(iter(_READ_CACHE)))
        _READ_CACHE[key] = (ident, offset + end, (check + complete)[-_CHECK_BYTES:], list(records))
    if partial.strip():
        records.extend(r for r in _parse_lines([partial.decode("utf-8", "replace")]) if isinstance(r, dict))
    return records


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _step(record: dict[str, Any]) -> int | None:
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
        return None  # NaN, and 1e400 (JSON's way to write infinity), are no step
    return int(step)


@dataclass
class Series:
    """One curve: ``values[i]`` at ``steps[i]``, steps strictly increasing (a resumed run's newer
    records replace the older ones from its first step on). Values may be NaN or infinite (a
    diverged step); the drawings leave those out."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def finite(self) -> Series:
        if all(map(math.isfinite, self.values)):
            return self
        pairs = [(s, v) for s, v in zip(self.steps, self.values) if math.isfinite(v)]
        return Series([s for s, _ in pairs], [v for _, v in pairs])

    def smoothed(self) -> list[float]:
        """Bias-corrected exponential moving average (as TensorBoard's smoothing), its span about
        a 50th of the curve, so a long noisy GAN loss shows its trend."""
        return ema(self.values, span=max(1, len(self.values) // 50))

    def __len__(self) -> int:
        return len(self.steps)


def ema(values: list[float], span: int) -> list[float]:
    """Exponential moving average with weight ``1 - 2 / (span + 1)``, corrected for its start
    (so the first value is not pulled towards 0). Non-finite values are passed through untouched
    and left out of the average."""
    weight = 1.0 - 2.0 / (span + 1)
    rest = 1.0 - weight
    out: list[float] = []
    append = out.append
    acc = norm = 0.0
    if all(map(math.isfinite, values)):
        for v in values:
            acc = weight * acc + rest * v
            norm = weight * norm + rest
            append(acc / norm)
        return out
    for v in values:
        if not math.isfinite(v):
            append(v)
            continue
        acc = weight * acc + rest * v
        norm = weight * norm + rest
        append(acc / norm)
    return out


def better_word(metric: str, goals: Mapping[str, str | None] = CORE_GOALS) -> str:
    """'higher' or 'lower' (which way ``metric`` improves), or '?' when no goal is declared for it."""
    return {"max": "higher", "min": "lower"}.get(metric_goal(metric, goals) or "", "?")


def _not_a_quality(metric: str, goals: Mapping[str, str | None]) -> bool:
    """Counts and error bars (declared with the goal None) are not drawn as curves."""
    found = lookup(metric, goals)
    return found is not None and found[1] is None


def _latest_records(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(step, record) with increasing steps. A resumed run logs again from its last checkpoint:
    its records replace the older ones from that step on."""
    kept: list[tuple[int, dict[str, Any]]] = []
    for record in records:
        step = record.get("step")
        if type(step) is not int:
            step = _step(record)
            if step is None:
                continue
        while kept and kept[-1][0] >= step:
            kept.pop()
        kept.append((step, record))
    return kept


_NUMBERS = (int, float)


def _series_by_key(records: list[dict[str, Any]], skip: frozenset[str]) -> dict[str, Series]:
    kept = _latest_records(records)
    keys: dict[str, None] = {}
    for _, record in kept:
        if not keys.keys() >= record.keys():
            keys.update(dict.fromkeys(record))
    series = {}
    for key in keys:
        if key in skip:
            continue
        pairs = [(step, value) for step, record in kept
                 if type(value := record.get(key)) in _NUMBERS]
        if pairs:
            series[key] = Series([step for step, _ in pairs], [float(value) for _, value in pairs])
    return series


@dataclass
class Curves:
    """What a run's curves show: ``losses`` from log.jsonl and ``metrics`` from metrics.jsonl,
    each a :class:`Series` by key in the order the keys first appear; ``last_log`` and
    ``last_metrics`` are the newest records as written (strings included)."""

    losses: dict[str, Series]
    metrics: dict[str, Series]
    last_log: dict[str, Any]
    last_metrics: dict[str, Any]
    seconds_per_step: float | None = None  # as the progress line shows it: see _seconds_per_step
    goals: dict[str, str | None] = field(default_factory=lambda: dict(CORE_GOALS))  # see run_goals

    @property
    def step(self) -> int | None:
        steps = [s.steps[-1] for s in self.losses.values() if s.steps]
        step = _step(self.last_log) if self.last_log else None
        return max(steps + ([step] if step is not None else []), default=None)


def curves(run_dir: str | Path, goals: Mapping[str, str | None] | None = None) -> Curves:
    """The loss series of ``RUN/log.jsonl`` and the metric series of ``RUN/metrics.jsonl``;
    ``goals`` default to :func:`run_goals`."""
    run_dir = Path(run_dir)
    goals = dict(goals) if goals is not None else run_goals(run_dir)
    log = read_log(run_dir / LOG_FILE)
    metrics = read_log(run_dir / METRICS_LOG_FILE)
    metric_series = {k: s for k, s in _series_by_key(metrics, METRIC_BOOKKEEPING).items()
                     if not _not_a_quality(k, goals)}
    return Curves(_series_by_key(log, LOG_BOOKKEEPING), metric_series, log[-1] if log else {},
                  metrics[-1] if metrics else {}, _seconds_per_step(log), goals)


def _seconds_per_step(log: list[dict[str, Any]]) -> float | None:
    """The s/step the terminal showed at the last logged step: the mean wall time per step since
    the first step of that process, previews, evaluations and checkpoints included (the trainer
    logs it as ``seconds_per_step``). Logs without it: the same mean over the logged steps of the
    last process (``seconds`` restart when a run resumes)."""
    if not log:
        return None
    logged = _number(log[-1].get("seconds_per_step"))
    if logged is not None:
        return logged if math.isfinite(logged) and logged > 0 else None
    last, first = log[-1], log[-1]
    for record in reversed(log[-10_000:-1]):  # bounded: the page is rewritten often
        steps, times = (_step(record), _step(first)), (_number(record.get("seconds")), _number(first.get("seconds")))
        if None in steps or None in times or not (steps[0] < steps[1] and times[0] < times[1]):
            break
        first = record
    a, b, ta, tb = _step(first), _step(last), _number(first.get("seconds")), _number(last.get("seconds"))
    if None in (a, b, ta, tb) or b <= a or tb <= ta:
        return None
    return (tb - ta) / (b - a)


def run_goals(run_dir: Path) -> dict[str, str | None]:
    """The metric goals of the plugin named in ``RUN/config.toml`` (:func:`translate.metric_goals.goal_table`);
    the core's alone when that plugin is not installed or fails to load: the page must still show."""
    name = _plugin_name(_read_config(run_dir)[1])
    if not name:
        return dict(CORE_GOALS)
    from .registry import load_plugin

    try:
        return goal_table(load_plugin(name))
    except Exception:  # noqa: BLE001 - a missing or broken plugin costs only the plugin's goals
        return dict(CORE_GOALS)


def best(series: Series, metric: str, goals: Mapping[str, str | None] = CORE_GOALS) -> tuple[int, float] | None:
    """(step, value) of the best finite value of ``metric`` (the earliest, on a tie); None when
    nothing is finite or no goal is declared for ``metric``."""
    finite = series.finite()
    goal = metric_goal(metric, goals)
    if not finite.steps or goal is None:
        return None
    pick = max if goal == "max" else min
    value = pick(finite.values)
    return finite.steps[finite.values.index(value)], value


def use_log_scale(values: list[float]) -> bool:
    """Log y when every value is positive and they span more than two decades."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) > 100


def sample_images(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of ``RUN/samples/step-N.png``, newest first."""
    folder = Path(run_dir) / SAMPLES_DIR
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            step = sample_step(path.name)
            if step is not None:
                found.append((step, path))
    return sorted(found, reverse=True)


def _read_config(run_dir: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = read_text(run_dir / CONFIG_FILE, CONFIG_FILE)
    except (OSError, UserError):  # the page shows no config rather than fail the run
        return "", {}
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, {}


def _plugin_name(config: dict[str, Any]) -> str:
    run = config.get("run")
    return str(run.get("plugin", "")) if isinstance(run, dict) else ""


def check_run(run_dir: str | Path) -> Path:
    """``run_dir`` as a Path, or a one-line error when it is not a run folder with a log."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    check_contents(run_dir)  # a link or a FIFO among its files: never read through, nor written over
    if not (run_dir / LOG_FILE).is_file():
        raise UserError(f"{run_dir}: no {LOG_FILE} here, so not a training run folder "
                        "(translate train writes one in its --out folder)")
    return run_dir


def format_value(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


# ---- the PNG ---------------------------------------------------------------------------------------
def write_plot(run_dir: str | Path, out_png: str | Path | None = None) -> Path:
    """One subplot per loss key (raw and smoothed) and per metric, against the step, as a PNG
    (``RUN/curves.png`` unless ``out_png``); returns its path. Needs matplotlib."""
    run_dir = check_run(run_dir)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError(MATPLOTLIB_MISSING) from None
    out_png = Path(out_png) if out_png is not None else run_dir / CURVES_FILE
    data = curves(run_dir)
    _, config = _read_config(run_dir)
    panels = [(key, s, False) for key, s in data.losses.items()] + \
             [(key, s, True) for key, s in data.metrics.items()]
    ncols = min(3, max(1, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    # The Figure API (no pyplot): no global state, and the user's own backend is left alone.
    fig = Figure(figsize=(4.4 * ncols, 3.0 * nrows + 0.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    if not panels:
        axes[0].text(0.5, 0.5, "no steps logged yet", ha="center", va="center", transform=axes[0].transAxes)
    for ax, (key, series, is_metric) in zip(axes, panels):
        finite = series.finite()
        if is_metric:
            ax.plot(finite.steps, finite.values, "o-", color="tab:green", markersize=3, linewidth=1.2)
            top = best(series, key, data.goals)
            title = f"{key} ({better_word(key, data.goals)} is better)"
            if top is not None:
                ax.plot([top[0]], [top[1]], "*", color="tab:red", markersize=11,
                        label=f"best {format_value(top[1])} @ {top[0]}")
                ax.legend(fontsize=8, loc="best")
        else:
            ax.plot(finite.steps, finite.values, color="tab:blue", alpha=0.3, linewidth=0.8, label="raw")
            ax.plot(finite.steps, finite.smoothed(), color="tab:blue", linewidth=1.6, label="smoothed")
            title = key
        if use_log_scale(finite.values):
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    plugin = _plugin_name(config)
    step = data.step
    parts = (run_dir.resolve().name, plugin, f"step {step}" if step is not None else "")
    fig.suptitle(" · ".join(p for p in parts if p), fontsize=11)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    return out_png


# ---- the page --------------------------------------------------------------------------------------
CHART_W, CHART_H = 320, 170
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 52, 10, 22, 24
MAX_POINTS = 600  # per polyline; longer curves keep each bucket's min and max


def _thin(steps: list[int], values: list[float], envelope: bool) -> tuple[list[int], list[float]]:
    n = len(steps)
    if n <= MAX_POINTS:
        return steps, values
    if not envelope:
        stride = math.ceil(n / MAX_POINTS)
        idx = list(range(0, n, stride))
        if idx[-1] != n - 1:
            idx.append(n - 1)
    else:  # min and max of each bucket, in step order: the spikes stay visible
        bucket = math.ceil(n / (MAX_POINTS // 2))
        idx = []
        for start in range(0, n, bucket):
            chunk = values[start:start + bucket]
            lo, hi = start + chunk.index(min(chunk)), start + chunk.index(max(chunk))
            idx.extend((lo, hi) if lo < hi else (hi, lo) if hi < lo else (lo,))
    return [steps[i] for i in idx], [values[i] for i in idx]


def svg_chart(title: str, series: Series, metric: bool = False, best_point: tuple[int, float] | None = None) -> str:
    """A small self-contained SVG line chart of ``series`` (raw and smoothed for a loss, points and
    line for a metric), x = step; log y by :func:`use_log_scale`."""
    finite = series.finite()
    e = html.escape
    head = (f'<svg class="chart" data-key="{e(title)}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{CHART_W}" height="{CHART_H}" viewBox="0 0 {CHART_W} {CHART_H}" role="img">'
            f'<title>{e(title)}</title>')
    label = f'<text x="{_PAD_L}" y="14" class="t">{e(title)}</text>'
    if not finite.steps:
        return (head + label + f'<text x="{CHART_W / 2}" y="{CHART_H / 2}" text-anchor="middle" class="a">'
                'no finite values</text></svg>')
    log = use_log_scale(finite.values)
    fy = math.log10 if log else float
    ys = [fy(v) for v in finite.values]
    x0, x1 = finite.steps[0], finite.steps[-1]
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) * 0.05 or 1), y1 + (abs(y1) * 0.05 or 1)
    pw, ph = CHART_W - _PAD_L - _PAD_R, CHART_H - _PAD_T - _PAD_B
    sx, sy = pw / (x1 - x0), ph / (y1 - y0)

    def px(step: float) -> float:
        return _PAD_L + (step - x0) * sx

    def py(y: float) -> float:
        return _PAD_T + ph - (y - y0) * sy

    def polyline(steps: list[int], values: list[float], cls: str) -> str:
        pts = " ".join(f"{px(s):.1f},{py(v):.1f}" for s, v in zip(steps, values))
        return f'<polyline class="{cls}" points="{pts}"/>'

    parts = [head, label,
             f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" class="f"/>']
    if metric:
        parts.append(polyline(*_thin(finite.steps, ys, False), "m"))
        if len(finite.steps) <= 60:
            parts.extend(f'<circle cx="{px(s):.1f}" cy="{py(y):.1f}" r="2.2" class="m"/>'
                         for s, y in zip(finite.steps, ys))
        if best_point is not None:
            parts.append(f'<circle cx="{px(best_point[0]):.1f}" cy="{py(fy(best_point[1])):.1f}" r="4" class="b">'
                         f'<title>best {e(format_value(best_point[1]))} at step {best_point[0]}</title></circle>')
    else:
        parts.append(polyline(*_thin(finite.steps, ys, True), "r"))
        smooth = [fy(v) for v in finite.smoothed()]
        parts.append(polyline(*_thin(finite.steps, smooth, False), "s"))

    def tick(y: float) -> str:
        return format_value(10 ** y if log else y)

    parts.append(f'<text x="{_PAD_L - 4}" y="{_PAD_T + 8}" text-anchor="end" class="a">{e(tick(y1))}</text>')
    parts.append(f'<text x="{_PAD_L - 4}" y="{_PAD_T + ph}" text-anchor="end" class="a">{e(tick(y0))}</text>')
    if log:
        parts.append(f'<text x="{_PAD_L - 4}" y="{_PAD_T + ph / 2 + 4}" text-anchor="end" class="a">log</text>')
    parts.append(f'<text x="{_PAD_L}" y="{CHART_H - 8}" class="a">{finite.steps[0]}</text>')
    parts.append(f'<text x="{CHART_W - _PAD_R}" y="{CHART_H - 8}" text-anchor="end" class="a">'
                 f'step {finite.steps[-1]}</text>')
    parts.append(f'<text x="{CHART_W - _PAD_R}" y="14" text-anchor="end" class="a">'
                 f'last {e(format_value(finite.values[-1]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.2em 2em;color:#222}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #ddd}
.sub{color:#666;font-size:.9em} .sub a{color:#369}
.state{display:inline-block;padding:1px 8px;border-radius:9px;background:#e8f3e8;color:#1d5e2a;font-size:.85em}
.state.live{background:#fff3d6;color:#7a5200}
.charts{display:flex;flex-wrap:wrap;gap:10px}
svg.chart{border:1px solid #e4e4e4;background:#fff}
svg .f{fill:#fafafa;stroke:#ddd} svg .t{font-size:12px;font-weight:600} svg .a{font-size:10px;fill:#555}
svg polyline{fill:none;stroke-linejoin:round} svg .r{stroke:#9ec3e6;stroke-width:.8}
svg .s{stroke:#1f5fa0;stroke-width:1.6} svg polyline.m{stroke:#2a8a3e;stroke-width:1.4}
svg circle.m{fill:#2a8a3e} svg circle.b{fill:none;stroke:#d62728;stroke-width:2}
table{border-collapse:collapse;font-size:.92em} td,th{border:1px solid #ddd;padding:3px 10px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
.controls{display:flex;align-items:center;gap:8px;flex-wrap:wrap;margin:.4em 0 .6em}
.controls input[type=range]{width:min(420px,60vw)} #steplabel{font-weight:600;min-width:9em}
.labelled{display:grid;grid-template-columns:auto max-content;justify-content:start;gap:3px 6px}
.colcaps{grid-column:2;grid-row:1;display:grid;grid-template-columns:repeat(var(--cols),1fr);width:0;min-width:100%}
.rowcaps{grid-column:1;grid-row:2;display:grid;grid-template-rows:repeat(var(--rows),1fr);height:0;min-height:100%}
.colcaps span,.rowcaps span{font-size:.85em;color:#333;font-weight:600;overflow-wrap:anywhere}
.colcaps span{text-align:center;align-self:end;padding:0 2px}
.rowcaps span{align-self:center;text-align:right;white-space:nowrap}
.labelled a{grid-column:2;grid-row:2;line-height:0;cursor:zoom-in}
.labelled img{image-rendering:pixelated;outline:1px solid #ccc;max-width:calc(100vw - 12em);height:auto}
#steps a{margin-right:.6em;color:#369} #steps a.on{font-weight:700;color:#000}
#zoom{position:fixed;inset:0;background:#202020;z-index:10;display:flex;flex-direction:column}
#zoom[hidden]{display:none}
#zoom .bar{display:flex;gap:8px;align-items:center;padding:6px 12px;color:#eee;font-size:.9em;flex-wrap:wrap}
#zoom .bar a{color:#9cf} #zoom button.on{font-weight:700;background:#fff}
#zoom .canvas{overflow:auto;flex:1;padding:12px;text-align:center}
#zoom img{image-rendering:pixelated;background:#fff}
pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:.85em}
"""

RELOAD_S = 15  # a live page reloads itself this often
GRID_TARGET_PX = (768, 1200)  # small grids are scaled up by a whole factor to fit within this (width, height)
MAX_GRID_SCALE = 8
_MAX_LABELS, _MAX_LABEL_CHARS, _MAX_LAYOUT_BYTES = 64, 120, 64 * 1024

_SCRIPT = """
(function () {
  var links = [].slice.call(document.querySelectorAll('#steps a'));
  var img = document.getElementById('shown'), link = document.getElementById('shown-link');
  var slider = document.getElementById('slider'), label = document.getElementById('steplabel');
  var zoom = document.getElementById('zoom'), zimg = document.getElementById('zoomed');
  var last = links.length - 1, cur = last, factor = 0;
  function stepOf(i) { return links[i].getAttribute('data-step'); }
  function fromHash() {
    var m = /step=(\\d+)/.exec(location.hash);
    for (var i = 0; m && i <= last; i++) if (stepOf(i) === m[1]) return i;
    return last;
  }
  function pin() {  // the step shown survives a reload; the latest follows new samples
    var url = cur === last ? location.pathname + location.search : '#step=' + stepOf(cur);
    try { history.replaceState(null, '', url); } catch (e) { if (cur !== last) location.hash = 'step=' + stepOf(cur); }
  }
  function show(i, remember) {
    if (last < 0) return;
    cur = Math.max(0, Math.min(last, i));
    var href = links[cur].getAttribute('href');
    img.src = href; link.href = href; slider.value = cur;
    label.textContent = 'step ' + stepOf(cur) + (cur === last ? ' (latest)' : '') + ' \\u00b7 ' + (cur + 1) + ' of ' + links.length;
    links.forEach(function (a, j) { a.className = j === cur ? 'on' : ''; });
    if (!zoom.hidden) openZoom();
    if (remember) pin();
  }
  function setFactor(f) {
    factor = f;
    var w = zimg.naturalWidth || img.naturalWidth, box = zoom.querySelector('.canvas');
    var fit = Math.max(1, Math.floor((box.clientWidth - 24) / Math.max(1, w)));
    var k = f || fit;
    zimg.style.width = (w * k) + 'px';
    [].forEach.call(zoom.querySelectorAll('button[data-zoom]'), function (b) {
      b.className = +b.getAttribute('data-zoom') === f ? 'on' : '';
    });
    document.getElementById('zoomlabel').textContent = 'step ' + stepOf(cur) + ' at ' + k + '\\u00d7';
  }
  function openZoom() {
    var href = links[cur].getAttribute('href');
    document.getElementById('zoomopen').href = href;
    zoom.hidden = false;
    zimg.onload = function () { setFactor(factor); };
    zimg.src = href;
    if (zimg.complete) setFactor(factor);
  }
  if (last >= 0) {
    slider.addEventListener('input', function () { show(+slider.value, true); });
    document.getElementById('prev').onclick = function () { show(cur - 1, true); };
    document.getElementById('next').onclick = function () { show(cur + 1, true); };
    links.forEach(function (a, j) { a.onclick = function (e) { e.preventDefault(); show(j, true); }; });
    link.onclick = function (e) { e.preventDefault(); openZoom(); };
    [].forEach.call(zoom.querySelectorAll('button[data-zoom]'), function (b) {
      b.onclick = function () { setFactor(+b.getAttribute('data-zoom')); };
    });
    document.getElementById('zoomclose').onclick = function () { zoom.hidden = true; };
    zoom.querySelector('.canvas').onclick = function (e) { if (e.target !== zimg) zoom.hidden = true; };
    document.addEventListener('keydown', function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      if (!zoom.hidden && e.key === 'Escape') { zoom.hidden = true; return; }
      if (!zoom.hidden && (e.key === '+' || e.key === '=')) { setFactor(Math.min(16, (factor || 1) * 2)); return; }
      if (!zoom.hidden && e.key === '-') { setFactor(Math.max(1, (factor || 2) / 2)); return; }
      if (e.target === slider) return;  // the slider moves itself
      if (e.key === 'ArrowLeft') { show(cur - 1, true); e.preventDefault(); }
      else if (e.key === 'ArrowRight') { show(cur + 1, true); e.preventDefault(); }
      else if (e.key === 'Home') { show(0, true); e.preventDefault(); }
      else if (e.key === 'End') { show(last, true); e.preventDefault(); }
    });
    show(fromHash(), false);
  }
  var KEY = 'translate-run-page-scroll';
  try {
    var y = sessionStorage.getItem(KEY);
    if (y !== null) { sessionStorage.removeItem(KEY); window.scrollTo(0, +y); }
  } catch (e) {}
  var reload = +document.body.getAttribute('data-reload-s');
  if (reload > 0) {
    setInterval(function () {
      if (zoom && !zoom.hidden) return;  // never while someone is looking closely
      try { sessionStorage.setItem(KEY, String(window.scrollY)); } catch (e) {}
      location.reload();
    }, reload * 1000);
  }
})();
"""


def _href(path: str) -> str:
    return html.escape(quote(path), quote=True)


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when it is not a readable PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height) if width > 0 and height > 0 else None


@dataclass
class SampleLayout:
    """What the sample grids show (``samples/layout.json``, from the plugin's
    :class:`translate.plugin.Preview`): column and row captions, a title, and the grid's shape."""

    columns: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    title: str = ""
    grid: tuple[int, int] = (1, 1)  # (columns, rows) of images in the PNG


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:_MAX_LABEL_CHARS] for v in value[:_MAX_LABELS] if isinstance(v, str) and v]


def read_layout(run_dir: Path) -> SampleLayout:
    """The captions of the run's sample grids; none when the file is missing, too large or not
    what the trainer writes (a run folder may come from anyone: every field is checked)."""
    path = run_dir / SAMPLES_DIR / SAMPLES_LAYOUT
    try:
        if path.is_symlink() or not path.is_file():
            return SampleLayout()
        with open(path, "rb") as f:
            data = f.read(_MAX_LAYOUT_BYTES + 1)
        record = json.loads(data.decode("utf-8", "replace")) if len(data) <= _MAX_LAYOUT_BYTES else None
    except (OSError, ValueError):
        return SampleLayout()
    if not isinstance(record, dict):
        return SampleLayout()
    grid = record.get("grid")
    ok = isinstance(grid, list) and len(grid) == 2 and all(type(n) is int and 1 <= n <= 10_000 for n in grid)
    title = record.get("title")
    return SampleLayout(_labels(record.get("columns")), _labels(record.get("rows")),
                        title[:4 * _MAX_LABEL_CHARS] if isinstance(title, str) else "",
                        (grid[0], grid[1]) if ok else (1, 1))


def _grid_scale(size: tuple[int, int] | None) -> int:
    """The whole factor that brings a small grid near GRID_TARGET_PX (1 for a large one): whole,
    so that every pixel of the PNG stays a square of the same size."""
    if size is None:
        return 1
    return max(1, min(MAX_GRID_SCALE, GRID_TARGET_PX[0] // size[0], GRID_TARGET_PX[1] // size[1]))


def _captions(layout: SampleLayout) -> tuple[str, str, str]:
    """(style, column captions, row captions) around the grid, as HTML."""
    e = html.escape
    if not layout.columns:
        return "", "", ""
    columns = layout.columns
    cols = "".join(f"<span>{e(c)}</span>" for c in columns)
    n_rows = layout.grid[1] if layout.rows else 0
    rows = "".join(f"<span>{e(layout.rows[i % len(layout.rows)])}</span>" for i in range(min(n_rows, 1000)))
    style = f' style="--cols:{len(columns)};--rows:{max(1, n_rows)}"'
    return (style, f'<div class="colcaps">{cols}</div>',
            f'<div class="rowcaps">{rows}</div>' if rows else "")


def _samples_section(run_dir: Path, samples: list[tuple[int, Path]]) -> str:
    """The latest grid, captioned and scaled up, with a slider through every step's grid and a
    full-resolution zoom (the script below); a plain link list without JavaScript."""
    e = html.escape
    layout = read_layout(run_dir)
    history = sorted(samples)  # oldest first: the slider runs left to right
    if history:
        step, path = history[-1]
        rel = f"{SAMPLES_DIR}/{path.name}"
        alt = f"samples at step {step}"
    else:
        step, path, rel, alt = None, run_dir / LATEST_SAMPLES, LATEST_SAMPLES, "latest samples"
    size = png_size(path)
    scale = _grid_scale(size)
    dims = f' width="{size[0] * scale}" height="{size[1] * scale}"' if size else ""
    style, cols, rows = _captions(layout)
    n = len(history)
    zoom_note = f" (shown {scale}× here)" if scale > 1 else ""
    parts = ["<h2>Samples</h2>"]
    if layout.title:
        parts.append(f'<p class="sub">{e(layout.title)}</p>')
    parts.append(
        '<div class="controls">'
        '<button type="button" id="prev" title="earlier step (←)">◀</button>'
        f'<input type="range" id="slider" min="0" max="{max(0, n - 1)}" value="{max(0, n - 1)}" step="1" '
        f'aria-label="step"{"" if n > 1 else " disabled"}>'
        '<button type="button" id="next" title="later step (→)">▶</button>'
        f'<span id="steplabel">{f"step {step} (latest)" if step is not None else "latest"}</span>'
        f'<span class="sub">{"← → step through the " + str(n) + " grids; " if n > 1 else ""}'
        f'click the image for full resolution{e(zoom_note)}</span>'
        "</div>")
    parts.append(f'<div class="labelled"{style}>{cols}{rows}<a id="shown-link" href="{_href(rel)}">'
                 f'<img id="shown" src="{_href(rel)}"{dims} alt="{e(alt)}"></a></div>')
    links = " ".join(f'<a href="{_href(f"{SAMPLES_DIR}/{p.name}")}" data-step="{s}">{s}</a>' for s, p in history)
    parts.append(f'<details><summary class="sub">every step with samples ({n})</summary>'
                 f'<p id="steps">{links}</p></details>')
    parts.append('<div id="zoom" hidden><div class="bar"><span id="zoomlabel"></span>'
                 + "".join(f'<button type="button" data-zoom="{k}">{k}×</button>' for k in (1, 2, 4, 8))
                 + '<button type="button" data-zoom="0">fit width</button>'
                 f'<a id="zoomopen" href="{_href(rel)}">open the PNG</a>'
                 + (f'<span>columns: {e(" · ".join(layout.columns))}</span>' if layout.columns else "")
                 + '<span>+ − zoom · Esc closes</span><button type="button" id="zoomclose">close ×</button></div>'
                 f'<div class="canvas"><img id="zoomed" alt="{e(alt)}, full resolution"></div></div>')
    return "\n".join(parts)


def _metrics_table(data: Curves) -> str:
    e = html.escape
    rows = []
    for key, series in data.metrics.items():
        last_step, last_value = series.steps[-1], series.values[-1]
        top = best(series, key, data.goals)
        best_cell = (f"<strong>{e(format_value(top[1]))}</strong></td><td>{top[0]}" if top else "–</td><td>")
        rows.append(f"<tr><td>{e(key)}</td><td>{e(format_value(last_value))}</td><td>{last_step}</td>"
                    f"<td>{best_cell}</td><td>{better_word(key, data.goals)}</td></tr>")
    table = ("<table class=\"metrics\"><tr><th>metric</th><th>latest</th><th>at step</th><th>best</th>"
             "<th>at step</th><th>better</th></tr>" + "".join(rows) + "</table>")
    notes = [(k, v) for k, v in data.last_metrics.items() if isinstance(v, str)]
    if notes:
        table += "<p class=\"sub\">" + "<br>".join(f"{e(k)}: {e(v)}" for k, v in notes) + "</p>"
    return table


def _total_steps(config: dict[str, Any]) -> int | None:
    train = config.get("train")
    steps = train.get("steps") if isinstance(train, dict) else None
    return steps if type(steps) is int and steps > 0 else None


def _state_line(step: int | None, total: int | None, live: bool, resume: str) -> str:
    """Whether the run is training (and the page reloads itself), finished, or stopped early."""
    of = f" of {total:,}" if total else ""
    at = f"step {step:,}{of}" if step is not None else "starting"
    if live:
        return (f'<span class="state live">training · {at}</span> this page reloads itself every {RELOAD_S} s '
                "while the run trains")
    if step is not None and total and step < total:
        return (f'<span class="state">stopped at {at}</span> continue with <code>{html.escape(resume)}</code>')
    return f'<span class="state">finished · {at}</span>' if step is not None else '<span class="state">no steps yet</span>'


def _speed(data: Curves) -> str:
    """The progress line's figures, said as what they are."""
    from .progress import format_rate

    parts = []
    if data.seconds_per_step is not None:
        parts.append(format_rate(data.seconds_per_step))
    speed = _number(data.last_log.get("images_per_s"))
    if speed is not None and speed > 0:
        parts.append(f"{speed:.3g} img/s")
    if not parts:
        return ""
    return (" · ".join(parts) + ' <span title="the mean wall time of a step since the first step of the '
            'training process that wrote the last log line (the first one, with its set-up, left out), previews, '
            'evaluations and checkpoints included: the figure the progress line shows">(as the terminal shows: '
            "mean since the first step, previews and checkpoints included)</span>")


def render_index(run_dir: str | Path, goals: Mapping[str, str | None] | None = None, live: bool = False) -> str:
    """The text of ``RUN/index.html`` (see :func:`write_index`)."""
    run_dir = Path(run_dir)
    e = html.escape
    data = curves(run_dir, goals)
    config_text, config = _read_config(run_dir)
    plugin = _plugin_name(config) or "run"
    samples = sample_images(run_dir)
    steps = [s for s, _ in samples[:1]] + ([data.step] if data.step is not None else [])
    step = max(steps) if steps else None
    title = f"{plugin} · step {step}" if step is not None else plugin

    info = [f"run folder <code>{e(run_dir.resolve().name)}</code>"]
    speed = _speed(data)
    if speed:
        info.append(speed)
    files = [name for name in (MODEL_FILE, BEST_FILE, CONFIG_FILE, LOG_FILE, METRICS_LOG_FILE,
                               CURVES_FILE) if (run_dir / name).is_file()]
    if files:
        info.append("files: " + ", ".join(f'<a href="{_href(n)}">{e(n)}</a>' for n in files))
    if (run_dir / TENSORBOARD_DIR).is_dir():
        info.append(f"<code>tensorboard --logdir {e(str(run_dir / TENSORBOARD_DIR))}</code>")
    info.append("page written " + e(time.strftime("%Y-%m-%d %H:%M:%S")))

    state = _state_line(step, _total_steps(config), live, f"translate train {plugin} --resume {run_dir.name}")
    body = [f"<h1>{e(title)}</h1>", f'<p class="sub">{state}</p>', f"<p class=\"sub\">{' · '.join(info)}</p>"]
    if samples or (run_dir / LATEST_SAMPLES).is_file():
        body.append(_samples_section(run_dir, samples))
    elif live:
        every = config.get("train", {}).get("sample_every") if isinstance(config.get("train"), dict) else None
        first = f" (the first at step {every})" if type(every) is int and every > 0 else ""
        body.append(f'<h2>Samples</h2><p class="sub">none yet{e(first)}: they appear here as the run writes them</p>')
    body.append("<h2>Losses</h2>")
    if data.losses:
        body.append("<p class=\"sub\">light: as logged; dark: smoothed (moving average)</p><div class=\"charts\">"
                    + "".join(svg_chart(k, s) for k, s in data.losses.items()) + "</div>")
    else:
        body.append("<p class=\"sub\">no steps logged yet</p>")
    if data.metrics:
        body.append("<h2>Metrics</h2>" + _metrics_table(data) + "<div class=\"charts\">"
                    + "".join(svg_chart(k, s, metric=True, best_point=best(s, k, data.goals))
                              for k, s in data.metrics.items())
                    + "</div>")
    if config_text:
        body.append(f"<h2>Config</h2><pre>{e(config_text)}</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{_STYLE}</style></head>"
            f"<body data-reload-s=\"{RELOAD_S if live else 0}\">\n"
            + "\n".join(body) + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


def write_index(run_dir: str | Path, goals: Mapping[str, str | None] | None = None, live: bool = False) -> Path:
    """Write ``RUN/index.html`` (atomically) and return its path: the sample grids (the latest
    first, captioned with what their columns and rows show, scaled up, a slider through every
    step's grid and a full-resolution zoom), loss and metric curves as inline SVG, the latest and
    best metrics and the config. Links are relative; it needs no network and no matplotlib.
    ``live``: the run is training, and the page reloads itself every ``RELOAD_S`` seconds (the
    trainer writes its last page without it)."""
    run_dir = Path(run_dir)
    text = render_index(run_dir, goals, live)
    path = run_dir / INDEX_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
