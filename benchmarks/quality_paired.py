"""The paired task of the quality benchmark (``--task pix2pix``): pix2pix trained on pairs of photo
crops whose answer is known, scored against the identity and the mean image. The commands and what
they measure: benchmarks/quality.py, the entry point."""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from quality_common import (distribution_scores, fid_cells, lpips_line, lpips_mean, photo_crops, print_header,
                            spread, train_two_folders)
from quality_unpaired import (CG_MAPPINGS, CG_TEST_CROPS, CG_TEST_PHOTOS, CG_TRAIN_CROPS, CG_TRAIN_PHOTOS,
                              colour_mapping)

# ---- pix2pix: a known paired task ----------------------------------------------------------------

# Paired tasks: (input, target) of one crop. colourise and deblur restore a photo from a degraded
# copy (the target is the photo); a CycleGAN mapping name trains the same mapping with its pairs.
P2P_DEBLUR_SIGMA = 1.5  # Gaussian blur, px at the training size
P2P_TASKS = ("colourise", "deblur", *CG_MAPPINGS)


def paired_task(name: str, x: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """(input, target) for crops ``x`` (N×H×W×3 in [0, 1]): ``colourise`` gives the BT.601 luma as
    grey RGB, ``deblur`` a Gaussian blur (σ P2P_DEBLUR_SIGMA), both with the photo as target; a
    CycleGAN mapping gives (x, mapping(x))."""
    import numpy as np

    if name == "colourise":
        grey = x @ np.asarray((0.299, 0.587, 0.114), dtype=x.dtype)
        return np.repeat(grey[..., None], 3, axis=-1), x
    if name == "deblur":
        from scipy.ndimage import gaussian_filter

        sigma = (0,) * (x.ndim - 3) + (P2P_DEBLUR_SIGMA, P2P_DEBLUR_SIGMA, 0)
        return gaussian_filter(x, sigma, mode="reflect"), x
    if name in CG_MAPPINGS:
        return x, colour_mapping(name, x)
    raise ValueError(f"unknown paired task {name!r}: {', '.join(P2P_TASKS)}")


def to_8bit(x: "np.ndarray") -> "np.ndarray":
    return (x.clip(0, 1) * 255).round() / 255


def write_pairs(task: str, size: int, root: Path) -> tuple[Path, Path, "np.ndarray"]:
    """Folders A and B of the training pairs (same file names) and the mean target image, the
    best answer that ignores the input (its per-pixel L1 optimum would be the median; the mean is
    the usual 'mean image' baseline and within a few per cent of it here)."""
    import numpy as np
    from PIL import Image

    inputs, targets = (to_8bit(v) for v in paired_task(task, photo_crops(CG_TRAIN_PHOTOS, CG_TRAIN_CROPS, size, 1)))
    folders = []
    for name, images in (("a", inputs), ("b", targets)):
        folder = root / f"{task}-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i:04d}.png")
        folders.append(folder)
    return folders[0], folders[1], targets.mean(0)


def pix2pix_scores(model, task: str, size: int, mean_target: "np.ndarray", fid: bool) -> dict[str, float]:
    """Mean |G(input) − target| (``error``) on held-out crops of photos never trained on, beside the
    identity's (``identity``: the input itself) and the mean training target's (``mean_image``), all
    on 8-bit images; RGB PSNR and LPIPS of each; with ``fid``, FID/KID of each against the targets."""
    import numpy as np

    from translate.metrics.image_quality import psnr

    inputs, targets = (to_8bit(v) for v in paired_task(task, photo_crops(CG_TEST_PHOTOS, CG_TEST_CROPS, size, 3)))
    batch = torch.from_numpy(inputs).permute(0, 3, 1, 2).float() * 2 - 1
    out = torch.cat([model.apply_tensor(batch[i:i + 16]) for i in range(0, len(batch), 16)])
    outputs = to_8bit(((out.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy())
    answers = {"model": outputs, "identity": inputs, "mean_image": np.broadcast_to(to_8bit(mean_target), targets.shape)}
    truth = torch.from_numpy(targets).permute(0, 3, 1, 2)
    scores = {}
    for name, y in answers.items():
        scores[name] = float(np.abs(y - targets).mean())
        image = torch.from_numpy(np.ascontiguousarray(y)).permute(0, 3, 1, 2)
        scores[f"{name}_psnr"] = float(psnr(image, truth, min_mse=1e-10).mean())
        scores[f"{name}_lpips"] = lpips_mean(image.float(), truth.float())
    if fid:
        scores.update(distribution_scores(targets, answers))
    return scores


def run_pix2pix(variant: str, task: str, seed: int, args: argparse.Namespace, out: Path,
                data: tuple[Path, Path, "np.ndarray"]) -> dict[str, Any]:
    model, seconds = train_two_folders("pix2pix", variant, seed, args, out, data[:2])
    scores = pix2pix_scores(model, task, args.size, data[2], args.fid)
    return {"variant": variant, "task": task, "seed": seed, **scores, "seconds": seconds}


def main_pix2pix(args: argparse.Namespace) -> None:
    variants, tasks = [v for v in args.variants.split(",") if v], args.pairs.split(",")
    print_header(args, "pix2pix", f"{CG_TRAIN_CROPS} training pairs from crops of {', '.join(CG_TRAIN_PHOTOS)}; "
                                  f"{CG_TEST_CROPS} held-out pairs from {', '.join(CG_TEST_PHOTOS)}")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(v, t): [] for t in tasks for v in variants}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        data = {t: write_pairs(t, args.size, Path(tmp) / "data") for t in tasks}
        futures = [pool.submit(run_pix2pix, v, t, seed, args, Path(tmp) / f"{t}-{i}-{seed}", data[t])
                   for seed in seeds for t in tasks for i, v in enumerate(variants)]
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r["variant"], r["task"]].append(r)
            print(f"  {r['task']:<9} {r['variant']:<20} seed {r['seed']}: MAE {r['model']:.4f} (identity "
                  f"{r['identity']:.4f}, mean image {r['mean_image']:.4f}), PSNR {r['model_psnr']:.2f} dB in "
                  f"{r['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'task':<9} {'variant':<24} {'MAE':>15} {'÷ identity':>10} {'÷ mean image':>12} {'PSNR (dB)':>15} "
          f"{'identity':>8} {'mean img':>8} {'LPIPS':>6} {'identity':>8} {'mean img':>8}  per seed (÷ identity)")
    for (v, t), rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        ratios = [r["model"] / r["identity"] for r in rows]
        mean = lambda key: statistics.fmean(r[key] for r in rows)  # noqa: E731
        maes = [r["model"] for r in rows]
        sd = statistics.stdev(maes) if len(maes) > 1 else 0.0
        print(f"{t:<9} {v:<24} {statistics.fmean(maes):7.4f} ± {sd:.4f} {statistics.fmean(ratios):10.3f} "
              f"{mean('model') / mean('mean_image'):12.3f} {spread([r['model_psnr'] for r in rows]):>15} "
              f"{mean('identity_psnr'):8.2f} {mean('mean_image_psnr'):8.2f} {mean('model_lpips'):6.3f} "
              f"{mean('identity_lpips'):8.3f} {mean('mean_image_lpips'):8.3f}  {' '.join(f'{x:.3f}' for x in ratios)}"
              + fid_cells(rows, ("model", "identity", "mean_image")))
    print(lpips_line() + ", of each against the held-out targets")
    if args.fid:
        print("FID / KID: model / identity / mean image against the held-out targets (lower is better)")
