"""The unpaired task of the quality benchmark (``--task cyclegan``): CycleGAN or CUT trained on two
domains of photo crops, one mapped by a known mapping, and scored against it. The commands and what
they measure: benchmarks/quality.py, the entry point."""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from quality_common import (distribution_scores, fid_cells, lpips_line, lpips_mean, photo_crops, print_header,
                            run_folder, train_two_folders)

REFERENCE = "reference"  # the --reference row's variant name
CG_TRAIN_PHOTOS = ("astronaut", "chelsea", "immunohistochemistry", "retina", "hubble_deep_field",
                   "stereo_motorcycle")
CG_TEST_PHOTOS = ("coffee", "rocket")
CG_TRAIN_CROPS, CG_TEST_CROPS = 200, 64
# An invertible colour mix whose rows sum to 1 (stays in [0, 1]); det 0.28, not a permutation.
CG_MATRIX = ((0.6, 0.4, 0.0), (0.0, 0.6, 0.4), (0.4, 0.0, 0.6))
# A texture mapping: unsharp masking, x + 2 (x − Gaussian blur σ 1.5 px), clipped to [0, 1]. It depends
# on the pixel scale, which the plugin's default resize (size × 286/256, then crop) changes by 1/8:
# the exact mapping at that scale scores 0.09 × identity, the floor for this task.
CG_SHARPEN_AMOUNT, CG_SHARPEN_SIGMA = 2.0, 1.5
# The real-photo unpaired task (``--cg-data mate``, the default): A is cut from six of Debian's
# mate-backgrounds nature photos, B from the other six (then mapped), so the two domains differ in
# content as real unpaired sets do; the held-out photos are neither (scikit-image's and matplotlib's).
# ``--cg-data skimage`` is the older task, A and B cut from the same six photos (a regression check).
MATE_DIRS = (Path("/usr/share/backgrounds/mate/nature"), Path("/tmp/photos_src/root/usr/share/backgrounds/mate/nature"))
MATE_A = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow")  # alphabetical halves
MATE_B = ("LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")
MATE_TEST_PHOTOS = ("coffee", "rocket", "astronaut", "chelsea", "sklearn:china", "sklearn:flower",
                    "matplotlib:grace_hopper")  # as SR_TEST_PHOTOS
# A realistic colour grade (``grade``, the "teal and orange" look): per-channel tone curves, warm
# highlights (red lifted, blue lowered) over teal shadows (blue lifted, red crushed), then saturation
# × 1.3 about BT.601 luma. ``fade``, a faded-film look: blacks lifted to 0.12, whites down to 0.9,
# saturation × 0.7.
CG_GRADE_CURVES = ((0.85, 0.0, 1.0), (0.95, 0.02, 0.98), (1.2, 0.1, 0.82))  # (exponent, black, white) per RGB
CG_GRADE_SATURATION = 1.3
CG_FADE = (0.12, 0.9, 0.7)  # black, white, saturation
CG_COLOUR_MAPPINGS = ("permute", "invert", "matrix", "gamma", "grade", "fade")
CG_MAPPINGS = (*CG_COLOUR_MAPPINGS, "sharpen")
# Real photos: two colour grades, a tone curve and a texture change; the older task: its two mappings.
CG_DEFAULT_MAPPINGS = {"mate": "grade,fade,gamma,sharpen", "mate-shared": "grade,fade,gamma,sharpen",
                       "skimage": "permute,invert"}


# ---- CycleGAN: a known colour mapping between unpaired domains ------------------------------------

def colour_mapping(name: str, x: "np.ndarray") -> "np.ndarray":
    """The true A → B map on H×W×3 (or N×H×W×3) float images in [0, 1]."""
    import numpy as np

    if name == "permute":
        return x[..., [1, 2, 0]]
    if name == "invert":
        return 1.0 - x
    if name == "matrix":
        return x @ np.asarray(CG_MATRIX, dtype=x.dtype).T
    if name == "gamma":
        return np.sqrt(x)
    if name == "grade":
        curved = np.stack([black + (white - black) * x[..., c] ** exponent
                           for c, (exponent, black, white) in enumerate(CG_GRADE_CURVES)], -1)
        return np.clip(saturate(curved, CG_GRADE_SATURATION), 0, 1)
    if name == "fade":
        black, white, saturation = CG_FADE
        return np.clip(saturate(black + (white - black) * x, saturation), 0, 1)
    if name == "sharpen":
        from scipy.ndimage import gaussian_filter

        blurred = gaussian_filter(x, (0,) * (x.ndim - 3) + (CG_SHARPEN_SIGMA, CG_SHARPEN_SIGMA, 0), mode="reflect")
        return np.clip(x + CG_SHARPEN_AMOUNT * (x - blurred), 0, 1)
    raise ValueError(f"unknown mapping {name!r}: {', '.join(CG_MAPPINGS)}")


def saturate(x: "np.ndarray", factor: float) -> "np.ndarray":
    """Colours pushed away from (factor > 1) or towards (< 1) their BT.601 luma."""
    import numpy as np

    luma = x @ np.asarray((0.299, 0.587, 0.114), dtype=x.dtype)
    return luma[..., None] + factor * (x - luma[..., None])


def write_domains(mapping: str, size: int, root: Path, photos: dict[str, tuple[str, ...]]) -> tuple[Path, Path]:
    """Folders A (crops of ``photos["a"]``) and B (the mapping of crops of ``photos["b"]``, drawn
    with another seed: other crops, of other photos unless the two sets are the same) as PNGs."""
    import numpy as np
    from PIL import Image

    folders = []
    for name, seed, fn in (("a", 1, None), ("b", 2, mapping)):
        crops = photo_crops(photos[name], CG_TRAIN_CROPS, size, seed)
        if fn:
            crops = colour_mapping(fn, crops)
        folder = root / f"{mapping}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, crop in enumerate(crops):
            Image.fromarray((crop.clip(0, 1) * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
        folders.append(folder)
    return folders[0], folders[1]


def colour_map_split(x: "np.ndarray", y: "np.ndarray", truth: "np.ndarray") -> tuple[float, float]:
    """Where G's error comes from: (mean |best smooth colour map of G − truth|, mean |G − that map|).
    The colour map is a per-pixel quadratic in (R, G, B), fitted by least squares to G's outputs: the
    first number is how wrong the colour mapping that G learnt is, the second the spatial artefacts
    (texture, noise, blotches) that no per-pixel colour map explains."""
    import numpy as np

    def features(v: "np.ndarray") -> "np.ndarray":
        r, g, b = v[:, 0], v[:, 1], v[:, 2]
        return np.stack([np.ones_like(r), r, g, b, r * r, g * g, b * b, r * g, g * b, r * b], 1)

    x, y, truth = (v.reshape(-1, 3).astype(np.float64) for v in (x, y, truth))
    basis = features(x)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    fit = basis @ coef
    return float(np.abs(fit - truth).mean()), float(np.abs(y - fit).mean())


def cyclegan_scores(model, mapping: str, size: int, photos: dict[str, tuple[str, ...]],
                    fid: bool = False) -> dict[str, float]:
    """Mean |G_AB(x) − mapping(x)| (``error``) and mean |x − mapping(x)| (``identity``) over the
    held-out crops, in [0, 1] units, on 8-bit inputs and outputs as a user's PNGs would be; the
    error's two parts from :func:`colour_map_split` (``colour_map``, ``artefacts``); and the error
    on new crops of the training photos (``held_in``, ÷ its own identity error): far below the
    held-out figure, G learnt the mapping only for the colours it saw. LPIPS of G's outputs
    (``lpips``) and of the inputs (``identity_lpips``) against the truth (nan without a network).
    With ``fid``, FID/KID of
    G's held-out outputs and of the inputs themselves (``identity_fid``) against the true mappings.
    ``photos``: ``test`` (held out) and ``a`` (domain A's, for held-in)."""
    scores = _mapping_scores(model, mapping, photos["test"], size, seed=3, fid=fid, lpips=True)
    held_in = _mapping_scores(model, mapping, photos["a"], size, seed=4)
    return {**scores, "held_in": held_in["error"] / held_in["identity"]}


def _mapping_scores(model, mapping: str, photos: tuple[str, ...], size: int, seed: int,
                    fid: bool = False, lpips: bool = False) -> dict[str, float]:
    import numpy as np

    x = (photo_crops(photos, CG_TEST_CROPS, size, seed=seed) * 255).round() / 255
    truth = colour_mapping(mapping, x)
    batch = torch.from_numpy(x).permute(0, 3, 1, 2) * 2 - 1
    out = [model.apply_tensor(batch[i:i + 16]) for i in range(0, len(batch), 16)]
    y = ((torch.cat(out).clamp(-1, 1) + 1) / 2 * 255).round() / 255
    y = y.permute(0, 2, 3, 1).numpy()
    # A texture mapping is not a per-pixel colour map: the split has nothing to say there (nan).
    colour_map, artefacts = colour_map_split(x, y, truth) if mapping in CG_COLOUR_MAPPINGS else (np.nan, np.nan)
    scores = {"error": float(np.abs(y - truth).mean()), "identity": float(np.abs(x - truth).mean()),
              "colour_map": colour_map, "artefacts": artefacts}
    if lpips:
        as_batch = [torch.from_numpy(np.ascontiguousarray(v, np.float32)).permute(0, 3, 1, 2) for v in (x, y, truth)]
        scores.update(lpips=lpips_mean(as_batch[1], as_batch[2]), identity_lpips=lpips_mean(as_batch[0], as_batch[2]))
    if fid:
        scores.update(distribution_scores(truth, {"model": y, "identity": x}))
    return scores


def cyclegan_result(variant: str, mapping: str, seed: int, scores: dict[str, float], seconds: float) -> dict[str, Any]:
    """One run's row; every error also as a fraction of the identity's."""
    ratios = {f"{k}_ratio": scores[k] / scores["identity"] for k in ("error", "colour_map", "artefacts")}
    return {"variant": variant, "mapping": mapping, "seed": seed, **scores, **ratios, "seconds": seconds}


def run_cyclegan(variant: str, mapping: str, seed: int, args: argparse.Namespace, out: Path,
                 domains: tuple[Path, Path]) -> dict[str, Any]:
    model, seconds = train_two_folders(args.plugin, variant, seed, args, out, domains)
    scores = cyclegan_scores(model, mapping, args.size, args.cg_photos, args.fid)
    return cyclegan_result(variant, mapping, seed, scores, seconds)


def run_reference_cyclegan(mapping: str, seed: int, args: argparse.Namespace, out: Path,
                           domains: tuple[Path, Path]) -> dict[str, Any]:
    """The reference implementation (``--reference DIR``, a clone of junyanz/pytorch-CycleGAN-and-pix2pix)
    at its defaults (resnet_9blocks, LSGAN, λ 10, identity 0.5, pool 50, Adam 2e-4; its learning rate
    is constant for 100 epochs, i.e. through any budget here), fed the same crops as ours: our plugin's
    dataset gives the resize-to-size×286/256, random crop and flip that its ``resize_and_crop`` does,
    one A in a shuffled epoch order with a random B, as its unaligned loader. Scored on G_A."""
    import random

    import numpy as np

    from reference_speed import reference_model
    from translate.registry import load_plugin
    from translate.request import new_request

    torch.set_num_threads(args.threads)
    plugin = load_plugin("cyclegan")
    request = new_request(plugin, {"a": str(domains[0]), "b": str(domains[1]), "size": args.size, "seed": seed})
    data = plugin.dataset(request.config, request.options, request.data)
    model, _ = reference_model("cycle_gan", args.size, args.reference, str(out), seed=seed)
    random.seed(seed)  # its image pool draws from Python's random
    rng = np.random.default_rng(seed)
    order: list[int] = []
    t0 = time.perf_counter()
    for step in range(args.steps):
        if not order:
            order = list(rng.permutation(len(data)))
        pair = data.get(int(order.pop()), seed=seed * 1_000_003 + step)
        model.set_input({"A": pair["a"][None], "B": pair["b"][None],  # already in [-1, 1]
                         "A_paths": ["a"], "B_paths": ["b"]})
        model.optimize_parameters()
    seconds = time.perf_counter() - t0

    class GeneratorA:  # what cyclegan_scores needs of a model
        @staticmethod
        def apply_tensor(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return model.netG_A(x)

    return cyclegan_result(REFERENCE, mapping, seed,
                           cyclegan_scores(GeneratorA, mapping, args.size, args.cg_photos, args.fid), seconds)


class HistogramMatching:
    """The classical unpaired colour transfer, no network: each channel of A mapped through the
    monotone curve that turns A's training crops' histogram into B's (quantile matching). It is the
    best per-channel tone curve the two unpaired sets define, so where it scores far from 0 on a
    per-channel mapping (gamma) the data, not the method, limit what can be learnt."""

    def __init__(self, domains: tuple[Path, Path]):
        import numpy as np
        from PIL import Image

        levels = np.linspace(0, 1, 257)
        pixels = [np.concatenate([np.asarray(Image.open(f).convert("RGB")).reshape(-1, 3)
                                  for f in sorted(folder.glob("*.png"))]) / 255 for folder in domains]
        self.curves = [(np.quantile(pixels[0][:, c], levels), np.quantile(pixels[1][:, c], levels)) for c in range(3)]

    def apply_tensor(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np

        v = ((x + 1) / 2).numpy()
        out = np.stack([np.interp(v[:, c], *self.curves[c]) for c in range(3)], 1)
        return torch.from_numpy(out).float() * 2 - 1


def print_palette_gaps(mappings: list[str], size: int, photos: dict[str, tuple[str, ...]]) -> None:
    """When A and B come from different photos their colours differ before any mapping: a line per
    mapping gives the mean RGB shift the mapping makes on A's crops and the shift from A's crops to
    B's training crops (what matching B's colour distribution asks of G). Where the two differ by as
    much as the first is large, the domains' content, not the mapping, sets most of what D sees."""
    a, b = (photo_crops(photos[k], CG_TRAIN_CROPS, size, seed) for k, seed in (("a", 1), ("b", 2)))
    mean_a = a.mean((0, 1, 2))
    print("# mean RGB shift: the mapping's on A's crops | A's crops → B's (what D sees)")
    for m in mappings:
        by_mapping, by_data = colour_mapping(m, a).mean((0, 1, 2)) - mean_a, colour_mapping(m, b).mean((0, 1, 2)) - mean_a
        print(f"#   {m:<8} ({', '.join(f'{v:+.3f}' for v in by_mapping)}) | ({', '.join(f'{v:+.3f}' for v in by_data)})")


def cyclegan_photos(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    """The photos of domains A and B and the held-out ones (``a``, ``b``, ``test``) of ``--cg-data``,
    as :func:`load_photo` names; a missing mate-backgrounds folder is one line through ``parser.error``."""
    if args.cg_data == "skimage":
        return {"a": CG_TRAIN_PHOTOS, "b": CG_TRAIN_PHOTOS, "test": CG_TEST_PHOTOS}
    folder = args.mate_dir or next((d for d in MATE_DIRS if d.is_dir()), MATE_DIRS[0])
    paths = {name: folder / f"{name}.jpg" for name in (*MATE_A, *MATE_B)}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        parser.error(f"{folder}: no {', '.join(missing)}; install the photos (apt-get install mate-backgrounds, "
                     "or apt-get download mate-backgrounds && dpkg-deb -x mate-backgrounds_*.deb DIR) and pass "
                     "--mate-dir DIR/usr/share/backgrounds/mate/nature, or use --cg-data skimage")
    if args.cg_data == "mate-shared":  # other crops of all twelve photos in each domain
        every = tuple(str(p) for p in paths.values())
        return {"a": every, "b": every, "test": MATE_TEST_PHOTOS}
    return {"a": tuple(str(paths[n]) for n in MATE_A), "b": tuple(str(paths[n]) for n in MATE_B),
            "test": MATE_TEST_PHOTOS}


def main_cyclegan(args: argparse.Namespace) -> None:
    variants, mappings = [v for v in args.variants.split(",") if v], args.mappings.split(",")  # "": reference only
    photos = {k: ", ".join(Path(p).stem for p in v) for k, v in args.cg_photos.items()}
    print_header(args, {"cyclegan": "CycleGAN", "cut": "CUT"}[args.plugin], f"{CG_TRAIN_CROPS} crops per domain, A of {photos['a']}, B of {photos['b']}; "
                                   f"{CG_TEST_CROPS} held-out crops of {photos['test']}")
    rows = variants + ([REFERENCE] if args.reference else [])
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(v, m): [] for m in mappings for v in rows}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.cg_photos["a"] != args.cg_photos["b"]:
        print_palette_gaps(mappings, args.size, args.cg_photos)
    with run_folder(args) as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        domains = {m: write_domains(m, args.size, Path(tmp) / "data", args.cg_photos) for m in mappings}
        for m in mappings:
            scores = cyclegan_scores(HistogramMatching(domains[m]), m, args.size, args.cg_photos)
            print(f"# {m}: per-channel histogram matching A → B (no network, the data's own tone curves): "
                  f"{scores['error'] / scores['identity']:.3f} × identity", flush=True)
        futures = [pool.submit(run_cyclegan, v, m, seed, args, Path(tmp) / f"{m}-{i}-{seed}", domains[m])
                   if v != REFERENCE else
                   pool.submit(run_reference_cyclegan, m, seed, args, Path(tmp) / f"{m}-ref-{seed}", domains[m])
                   for seed in seeds for m in mappings for i, v in enumerate(rows)]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r["variant"], r["mapping"]].append(r)
            print(f"  {r['mapping']:<8} {r['variant']:<24} seed {r['seed']}: error {r['error_ratio']:.3f} × identity "
                  f"(MAE {r['error']:.4f}, identity {r['identity']:.4f}; colour map {r['colour_map_ratio']:.3f}, "
                  f"artefacts {r['artefacts_ratio']:.3f}; held-in {r['held_in']:.3f}; LPIPS {r['lpips']:.3f}, "
                  f"identity {r['identity_lpips']:.3f}) in {r['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
    # colour map / artefacts: the two parts of the error (colour_map_split), as fractions of the identity's
    print(f"\n{'mapping':<9} {'variant':<28} {'error / identity':>16} {'identity':>8} {'colour map':>10} "
          f"{'artefacts':>9} {'held-in':>7} {'LPIPS':>6} {'identity':>8}  per seed")
    for (v, m), rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        ratios = [r["error_ratio"] for r in rows]
        sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
        parts = [statistics.fmean(r[f"{k}_ratio"] for r in rows) for k in ("colour_map", "artefacts")]
        held_in = statistics.fmean(r["held_in"] for r in rows)
        lpips = [statistics.fmean(r[k] for r in rows) for k in ("lpips", "identity_lpips")]
        print(f"{m:<9} {v:<28} {statistics.fmean(ratios):9.3f} ± {sd:4.3f} {1.0:8.2f} {parts[0]:10.3f} "
              f"{parts[1]:9.3f} {held_in:7.3f} {lpips[0]:6.3f} {lpips[1]:8.3f}  {' '.join(f'{x:.3f}' for x in ratios)}"
              + fid_cells(rows, ("model", "identity")))
    print(lpips_line() + ", of G's held-out outputs and of the inputs against the true mapping")
