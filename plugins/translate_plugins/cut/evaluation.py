"""``translate eval`` of a CUT model: test images of domain A through G, as apply runs it, and the
FID/KID of the translations against the B test images (``translate.evaluation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from translate import evaluation as ev
from translate.errors import UserError
from translate_plugins.cyclegan.data import (
    B_SEED_OFFSET,
    builtin_domain,
    builtin_domains,
    open_domain,
)

from .training import translate


def _source(value: str, flag: str, side: int, seed: int, n: int | None) -> Any:
    """A test domain: a folder, or a built-in domain drawn held out (another seed than training's)."""
    if value in builtin_domains() and not Path(value).exists():
        return builtin_domain(value, side, seed + ev.BUILTIN_EVAL_SEED_OFFSET, count=n or ev.BUILTIN_EVAL_COUNT)
    return open_domain(value, flag, side, seed)


def evaluate(modules: dict[str, Any], config: Any, out_dir: Any, a: str | None, b: str | None, n: int | None = None,
             seed: int = 0, size: int | None = None, inception_weights: str | None = None,
             tile: int = 512, progress=None) -> dict[str, float]:
    """The plugin's ``evaluate`` (its docstring has the protocol)."""
    if not (a and b):
        raise UserError("cut evaluation needs test images of both domains: translate eval CKPT --a DIR --b DIR "
                        "(A is translated, B is what the translations are compared with; or built-in domains, "
                        "e.g. --a shapes --b shapes-inverted)")
    side = size or 256
    source_a, source_b = _source(a, "--a", side, seed, n), _source(b, "--b", side, seed + B_SEED_OFFSET, n)
    folders = {name: ev.output_folder(out_dir, name) for name in ("real_a", "real_b", "fake_b")}
    device = ev.device_of(modules["generator"])
    progress = progress or ev.no_progress
    picked_a, picked_b = ev.pick(len(source_a), n), ev.pick(len(source_b), n)
    done = 0
    for names, images in ev.source_batches(source_a, config.channels, size, picked_a):
        ev.write_images(folders["real_a"], images, names)
        fake = translate(modules["generator"], images.to(device), tile=tile).float().cpu()
        ev.write_images(folders["fake_b"], fake, names)
        done += len(names)
        progress("translating A to B", done, len(picked_a))
    for names, images in ev.source_batches(source_b, config.channels, size, picked_b):
        ev.write_images(folders["real_b"], images, names)
    ev.add_protocol("data", f"{len(picked_a)} A images of {source_a.origin}, {len(picked_b)} B images of "
                    f"{source_b.origin}, " + (f"resized (shorter side, area filter) and centre-cropped to "
                                              f"{size}×{size}" if size else "at their own sizes"))
    metrics = ev.folder_metrics(folders["real_b"], folders["fake_b"], keys=("fid", "kid", "kid_std"), label="a2b",
                                inception_weights=inception_weights, device=device, seed=seed)
    return {**metrics, "images_a": len(picked_a), "images_b": len(picked_b)}
