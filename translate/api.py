"""The Python API, the CLI's twin: ``translate.train`` and ``translate.load``.

    import translate
    model = translate.train("cyclegan", a="horses/", b="zebras/", steps=2000, size=256, out="runs/h2z")
    model = translate.load("runs/h2z")            # a run folder or a .safetensors file
    zebra = model(Image.open("horse.jpg"))        # PIL in → PIL out; paths, numpy, tensors too

Keywords are the CLI's flag names with underscores (``batch_size`` for ``--batch-size``); an
unknown keyword is the same one-line error as an unknown flag, with a did-you-mean. The request
is resolved by :mod:`translate.request`, exactly as for the CLI, so both write the same config
and the same checkpoint metadata.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from .errors import UserError
from .plugin import Plugin
from .tensorboard_log import TENSORBOARD_DIR


def _plugin(plugin: str | Plugin) -> Plugin:
    if isinstance(plugin, Plugin):
        return plugin
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
        from .runlock import check_free

        check_free(out_dir)
        return resume_request(plugin, out_dir, values), out_dir, True
    out_dir = Path(out) if out is not None else default_out_dir(plugin.name)
    check_out_dir(out_dir)  # before the data are read, which can take minutes
    request = new_request(plugin, values, config)
    for flag, value in request.data.items():
        data = Path(value)
        if data.is_dir() and (out_dir.resolve() == data.resolve() or data.resolve() in out_dir.resolve().parents):
            raise UserError(f"--out {out_dir} is inside --{flag.replace('_', '-')} {value}: samples and checkpoints "
                            "would be written into the training data; choose an --out outside it")
    return request, out_dir, False


# What a run writes into its folder: finding one of these without the training state means the
# folder holds someone's files (or a copied model), which a new run must not overwrite.
RUN_FILES = ("model.safetensors", "config.toml", "log.jsonl", "samples.png", "samples")


def check_out_dir(out_dir: Path) -> None:
    """A new run's folder: not a run already, not someone's files, and writable."""
    from .checkpoint import STATE_FILE
    from .runlock import check_free

    check_free(out_dir)
    if (out_dir / STATE_FILE).exists():
        raise UserError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir}, "
                        "or choose another --out")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder for the run")
    if _stopped_before_first_checkpoint(out_dir):
        print(f"note: --out {out_dir} holds a run that stopped before its first checkpoint (nothing to resume); "
              "starting it again there", file=sys.stderr)
        _clear_unfinished_start(out_dir)
    taken = [name for name in RUN_FILES if (out_dir / name).exists()]
    if taken:
        raise UserError(f"--out {out_dir} already holds {', '.join(taken)} but no training state: a new run would "
                        "overwrite them; choose another --out (or move those files away)")
    existing = next(p for p in (out_dir.absolute(), *out_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"--out {out_dir}: {existing} is a file, not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out_dir}: {existing} is not writable; choose an --out you can write to")


# The header translate writes at the top of a run's config.toml (dumps_toml prefixes "# ").
RUN_CONFIG_HEADER = "# Resolved config of this run"
# What a run has written before its first checkpoint (besides config.toml and its lock).
START_FILES = ("log.jsonl", "samples", "samples.png", "index.html", TENSORBOARD_DIR)


def _stopped_before_first_checkpoint(out_dir: Path) -> bool:
    """A folder where a run began (its own config.toml) but stopped, crashed or was killed before it
    wrote a checkpoint: no model, no state, nothing but the files a run writes when it starts. A new
    run may start there again instead of refusing the folder (there is nothing to resume)."""
    from .checkpoint import MODEL_FILE, STATE_FILE
    from .fileio import TEMP_SUFFIX
    from .runlock import LOCK_FILE

    config = out_dir / "config.toml"
    if not config.is_file() or (out_dir / MODEL_FILE).exists() or (out_dir / STATE_FILE).exists():
        return False
    try:
        if not config.read_text(errors="replace").startswith(RUN_CONFIG_HEADER):
            return False  # someone's own config.toml
    except OSError:
        return False
    allowed = {"config.toml", LOCK_FILE, *START_FILES}
    return all(p.name in allowed or TEMP_SUFFIX in p.name for p in out_dir.iterdir())


def _clear_unfinished_start(out_dir: Path) -> None:
    """Remove what the stopped run wrote, so the new run's log and samples start clean."""
    import shutil

    for name in ("config.toml", *START_FILES):
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def train(plugin: str | Plugin, *, out: str | Path | None = None, resume: str | Path | None = None,
          config: str | Path | None = None, progress: bool = True, **values: Any):
    """Train ``plugin`` (a name or a Plugin) and return the trained :class:`translate.model.Model`.

    ``out`` is the run folder (default runs/NAME), ``resume`` continues a run folder, ``config`` is
    a TOML file of defaults; every other keyword is a flag of ``translate train NAME``.
    """
    from .checkpoint import MODEL_FILE, load_model
    from .trainer import train as run

    request, out_dir, resuming = prepare(plugin, out, resume, config, **values)
    from .distributed import is_main_process

    if progress and is_main_process():  # under torchrun only rank 0 talks
        print(f"training {request.plugin.name} → {out_dir}", file=sys.stderr)
    run(request, out_dir, resume=resuming, progress=progress)
    return load_model(out_dir / MODEL_FILE, plugin=request.plugin)


def load(path: str | Path, *, device: str = "cpu", precision: str = "fp32", ema: bool = True):
    """A trained model from a run folder or a ``model.safetensors``; ``ema=False`` takes the raw
    weights of a run that kept an EMA. ``device``/``precision`` as for ``translate apply``."""
    from .checkpoint import load_model

    return load_model(path, device, use_ema=ema, precision=precision)
