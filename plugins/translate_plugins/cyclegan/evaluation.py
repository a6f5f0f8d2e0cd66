"""``translate eval`` of a CycleGAN: test images of both domains through both generators, as apply
runs them, and FID/KID of each direction (``translate.evaluation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from translate import evaluation as ev
from translate.errors import UserError

from .data import B_SEED_OFFSET, builtin_domain, builtin_domains, open_domain
from .training import DIRECTIONS, translate


def evaluate(modules: dict[str, Any], config: Any, out_dir: Any, a: str | None, b: str | None, n: int | None = None,
             seed: int = 0, size: int | None = None, inception_weights: str | None = None,
             tile: int = 512, progress=None) -> dict[str, float]:
    """The plugin's ``evaluate`` (its docstring has the protocol)."""
    if not (a and b):
        raise UserError("cyclegan evaluation needs test images of both domains: translate eval CKPT --a DIR "
                        "--b DIR (or built-in domains, e.g. --a shapes --b shapes-inverted)")
    side = size or 256
    sources = {}
    for name, value, domain_seed in (("a", a, seed), ("b", b, seed + B_SEED_OFFSET)):
        if value in builtin_domains() and not Path(value).exists():
            sources[name] = builtin_domain(value, side, domain_seed + ev.BUILTIN_EVAL_SEED_OFFSET,
                                           count=n or ev.BUILTIN_EVAL_COUNT)
        else:
            sources[name] = open_domain(value, f"--{name}", side, domain_seed)
    folders = {name: ev.output_folder(out_dir, name) for name in ("real_a", "real_b", "fake_a", "fake_b")}
    device = ev.device_of(next(iter(modules.values())))
    progress = progress or ev.no_progress
    counts = {}
    for name, source in sources.items():
        other = "b" if name == "a" else "a"
        direction = f"{name}2{other}"
        indices = ev.pick(len(source), n)
        counts[name] = len(indices)
        done = 0
        for names, images in ev.source_batches(source, config.channels, size, indices):
            ev.write_images(folders[f"real_{name}"], images, names)
            if DIRECTIONS[direction] in modules:
                fake = translate(modules, images.to(device), direction=direction, tile=tile).float().cpu()
                ev.write_images(folders[f"fake_{other}"], fake, names)
            done += len(names)
            progress(f"translating {name.upper()} to {other.upper()}", done, len(indices))
    ev.add_protocol("data", f"{counts['a']} A images of {sources['a'].origin}, {counts['b']} B images of "
                    f"{sources['b'].origin}, "
                    + (f"resized (shorter side, area filter) and centre-cropped to {size}×{size}" if size
                       else "at their own sizes"))
    metrics: dict[str, float] = {}
    for direction, target in (("a2b", "b"), ("b2a", "a")):
        if DIRECTIONS[direction] not in modules:
            ev.add_note(f"{direction}: not measured, the model holds no {DIRECTIONS[direction]} (imported from "
                        "one generator file)")
            continue
        metrics.update(ev.folder_metrics(folders[f"real_{target}"], folders[f"fake_{target}"],
                                         suffix=f"_{direction}", keys=("fid", "kid", "kid_std"), label=direction,
                                         inception_weights=inception_weights, device=device, seed=seed))
    for key in ("fid", "kid"):
        both = [metrics[f"{key}_{d}"] for d in ("a2b", "b2a") if f"{key}_{d}" in metrics]
        if both:
            metrics[key] = sum(both) / len(both)
    if "fid" in metrics:
        ev.add_protocol("fid", "mean of fid_a2b and fid_b2a (kid likewise)")
    return {**metrics, "images_a": counts["a"], "images_b": counts["b"]}
