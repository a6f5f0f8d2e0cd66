"""The Python API, the CLI's twin: ``translate.train`` and ``translate.load``.

    import translate
    model = translate.train("NAME", data="photos/", steps=2000, size=256, out="runs/photos")  # a plugin's name
    model = translate.load("runs/photos")         # a run folder or a .safetensors file
    out = model(Image.open("photo.jpg"))          # PIL in → PIL out; paths, numpy, tensors too

Keywords are the CLI's flag names with underscores (``batch_size`` for ``--batch-size``); an
unknown keyword is the same one-line error as an unknown flag, with a did-you-mean. The request
is resolved by :mod:`translate.request`, exactly as for the CLI, so both write the same config
and the same checkpoint metadata.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .errors import UserError
from .plugin import Plugin
from .run_folder import MODEL_FILE, check_new, check_resumable


def _plugin(plugin: str | Plugin) -> Plugin:
    if isinstance(plugin, Plugin):
        return plugin
    if not isinstance(plugin, str):
        raise UserError(f"plugin {plugin!r}: give a plugin's name (a string, see `translate plugins`) or a Plugin")
    from .registry import load_plugin

    return load_plugin(plugin)


def default_out_dir(plugin_name: str) -> Path:
    """runs/NAME, or runs/NAME-2, -3, ... when taken."""
    base = Path("runs") / plugin_name
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = Path(f"{base}-{n}")
    return candidate


def prepare(plugin: str | Plugin, out: str | Path | None = None, resume: str | Path | None = None,
            config: str | Path | None = None, **values: Any):
    """(request, run folder, resuming?) for a training run, with every check done before any
    file is written. ``values`` are flag names with underscores."""
    from .request import new_request, resume_request

    plugin = _plugin(plugin)
    if resume is not None:
        if config:
            raise UserError("--resume and --config cannot be combined: a resumed run keeps its config")
        out_dir = Path(resume)
        if out is not None and Path(out) != out_dir:
            raise UserError("--resume continues in the run's own folder; leave out --out")
        check_resumable(out_dir)  # before its training state is read
        return resume_request(plugin, out_dir, values), out_dir, True
    out_dir = Path(out) if out is not None else default_out_dir(plugin.name)
    check_new(out_dir)  # before the data are read, which can take minutes
    from .catalogue import resolve_checkpoint

    # --init may name a released model: fetched and imported into the cache here, once.
    request = new_request(plugin, values, config, find_checkpoint=resolve_checkpoint)
    for flag, value in request.data.items():
        data = Path(value)
        if data.is_dir() and (out_dir.resolve() == data.resolve() or data.resolve() in out_dir.resolve().parents):
            raise UserError(f"--out {out_dir} is inside --{flag.replace('_', '-')} {value}: samples and checkpoints "
                            "would be written into the training data; choose an --out outside it")
    return request, out_dir, False


def train(plugin: str | Plugin, *, out: str | Path | None = None, resume: str | Path | None = None,
          config: str | Path | None = None, verbose: bool = True, progress: bool | None = None, **values: Any):
    """Train ``plugin`` (a name or a Plugin) and return the trained :class:`translate.model.Model`.

    ``out`` is the run folder (default runs/NAME), ``resume`` continues a run folder, ``config`` is
    a TOML file of defaults; every other keyword is a flag of ``translate train NAME``. It prints
    what ``translate train`` prints (on stderr: the run folder, progress, the closing "done:"
    line); ``verbose=False`` prints nothing (``progress=False``, its older name, still works).
    """
    from .loading import load_model

    verbose = verbose and progress is not False
    request, out_dir, resuming = prepare(plugin, out, resume, config, **values)
    run_prepared(request, out_dir, resuming, verbose)
    return load_model(out_dir / MODEL_FILE, plugin=request.plugin)


def run_prepared(request: Any, out_dir: Path, resuming: bool, verbose: bool = True) -> Any:
    """Train a :func:`prepare`'d request, printing what happens (``translate train`` and
    :func:`train` both come here, so they say the same): the run folder, the trainer's progress
    and the closing "done:" line. Returns the trainer's result."""
    from .distributed import is_main_process
    from .trainer import train as run

    talk = verbose and is_main_process()  # under torchrun only rank 0 talks
    if talk:
        print(f"training {request.plugin.name} → {out_dir}", file=sys.stderr, flush=True)
    result = run(request, out_dir, resume=resuming, progress=verbose)
    if talk:
        print(done_message(result), file=sys.stderr, flush=True)
    return result


def done_message(result: Any) -> str:
    """What a finished run wrote: only files that exist (a plugin without a preview writes no samples)."""
    from .progress import format_duration
    from .run_folder import BEST_FILE, INDEX_FILE, LATEST_SAMPLES

    out_dir = result.out_dir
    wrote = [f"checkpoint {out_dir / MODEL_FILE}"]
    for name, label in ((BEST_FILE, "best"), (LATEST_SAMPLES, "samples"), (INDEX_FILE, "report")):
        if (out_dir / name).is_file():
            wrote.append(f"{label} {out_dir / name}")
    took = format_duration(result.seconds) if result.seconds >= 60 else f"{result.seconds:.1f} s"
    return (f"done: {result.step} steps in {took} ({result.images_per_second:.3g} img/s); "
            + ", ".join(wrote))


def load(path: str | Path, *, device: str = "cpu", precision: str = "fp32", ema: bool = True):
    """A trained model from a run folder or a ``model.safetensors``; ``ema=False`` takes the raw
    weights of a run that kept an EMA. ``device``/``precision`` as for ``translate apply``."""
    from .loading import load_model
    from .runtime import DEVICES, PRECISIONS

    if not isinstance(path, (str, Path)):
        raise UserError(f"path {path!r}: give a run folder or a .safetensors file (a str or Path)")
    if not isinstance(ema, bool):
        raise UserError(f"ema={ema!r}: give True (the EMA weights, when the run kept them) or False (the raw weights)")
    if not isinstance(device, str) or device not in DEVICES and not device.startswith("cuda:"):
        raise UserError(f"device={device!r}: give one of {', '.join(DEVICES)} (or cuda:N)")
    if precision not in PRECISIONS:
        raise UserError(f"precision={precision!r}: give one of {', '.join(PRECISIONS)}")

    return load_model(path, device, use_ema=ema, precision=precision)
