"""``translate train PLUGIN --init CKPT|NAME``: a new run that starts from a checkpoint's weights
(fine-tuning a released model, or SRGAN's GAN stage from its pretrained SRResNet).

The checkpoint (a ``model.safetensors``, its run folder, or a released model's name from
``translate models``) must come from the same plugin. Every module it holds that the new run
builds is loaded strictly, the EMA weights where it has them (those are what ``apply`` uses);
the others start fresh (e.g. the discriminator when the file is an imported generator). The run's
config is its own: where a module does not fit, the error lists the recorded settings that differ
from this run's, as flags to pass. Optimiser state, step and data position are not carried over:
that is ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

SHOWN_DIFFERENCES = 6  # recorded settings named in a "does not fit" message


def resolve_init(plugin, options, find: Callable[[str], Path] = Path):
    """``options`` with ``init`` turned into the path of a checkpoint of ``plugin``, checked before
    any file is written. ``find`` turns the flag's text into a path (the API and CLI pass
    :func:`translate.catalogue.resolve_checkpoint`, which fetches and imports a released model's name)."""
    if not options.init:
        return options
    from .checkpoint import read_model_metadata
    from .run_folder import MODEL_FILE

    path = Path(find(options.init)).absolute()
    if path.is_dir():  # a run folder: record the file, which is what was loaded
        path = path / MODEL_FILE
    meta = read_model_metadata(path)
    if meta.get("plugin") != plugin.name:
        raise UserError(f"--init {options.init}: a checkpoint of plugin '{meta.get('plugin')}', not "
                        f"'{plugin.name}'; pass a model.safetensors (or run folder, or model name) of {plugin.name}")
    return dataclasses.replace(options, init=str(path))


def recorded_config(path: str | Path) -> dict[str, Any]:
    """The config an --init checkpoint recorded ({} when it recorded none)."""
    from .checkpoint import read_model_metadata

    try:
        saved = json.loads(read_model_metadata(path).get("config", "{}"))
    except (ValueError, RecursionError):
        return {}
    return saved if isinstance(saved, dict) else {}


def load_starting_weights(path: str | Path, modules: dict[str, Any], config: Any) -> list[str]:
    """Load the modules the checkpoint at ``path`` holds into the freshly built ``modules`` (in
    place); returns their names."""
    from .checkpoint import checkpoint_states

    states, meta = checkpoint_states(path, use_ema=True)
    shared = [name for name in states if name in modules]
    if not shared:
        raise UserError(f"--init {path}: holds {', '.join(states) or 'no modules'}, none of which this run builds "
                        f"({', '.join(modules)})")
    for name in shared:
        try:
            modules[name].load_state_dict(states[name], strict=True)
        except RuntimeError as exc:
            raise UserError(f"--init {path}: the weights of '{name}' do not fit this run "
                            f"({str(exc).splitlines()[0][:160]}){_differences(meta, config)}") from None
    ema = " (its EMA weights)" if meta.get("ema") == "true" else ""
    print(f"--init: {', '.join(shared)} from {path}{ema}", file=sys.stderr)
    return shared


def _differences(meta: dict[str, str], config: Any) -> str:
    """'; it was trained with --features 32 --n-blocks 2: pass the same flags' for the recorded
    config fields that differ from this run's."""
    try:
        saved = json.loads(meta.get("config", "{}"))
    except (ValueError, RecursionError):
        return ""
    ours = dataclasses.asdict(config)
    differ = [(k, v) for k, v in saved.items() if k in ours and ours[k] != v] if isinstance(saved, dict) else []
    if not differ:
        return ""
    flags = " ".join(_flag(k, v) for k, v in differ[:SHOWN_DIFFERENCES])
    more = f" (and {len(differ) - SHOWN_DIFFERENCES} more)" if len(differ) > SHOWN_DIFFERENCES else ""
    return f"; it was trained with {flags}{more}: pass the same flags"


def _flag(name: str, value: Any) -> str:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"--no-{name.replace('_', '-')}"
    return f"{flag} {value}"
