"""The SR task of the quality benchmark: srgan trained on photos and scored against bicubic on held-out
photos. The commands and what they measure: benchmarks/quality.py, the entry point."""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import time
from pathlib import Path

import torch

from quality_common import (distribution_scores, fid_cells, load_photo, lpips_line, lpips_mean, parse_variant,
                            print_header, run_folder, spread)

VARIANTS = {"default": {}, "paper": {"paper": True}, "rrdb": {"arch": "rrdb"}}  # paper: --paper, Ledig et al.
SR_PATCH = 64  # FID/KID of SR outputs: over the held-out photos' non-overlapping patches of this side


# SR trained on a folder of photos (``--train-dir``, e.g. the mate-backgrounds photos) is scored on
# these real photos, all different from the training photos and shipped inside packages: scikit-image's
# data, scikit-learn's two sample images, matplotlib's sample data.
SR_TEST_PHOTOS = ("coffee", "rocket", "astronaut", "chelsea", "sklearn:china", "sklearn:flower",
                  "matplotlib:grace_hopper")


def sr_test_images(train_dir: str | None) -> list["np.ndarray"]:
    """The held-out HR photos (H×W×3 uint8): SR_TEST_PHOTOS after training on ``train_dir``,
    else the plugin's skimage-test pair (coffee, rocket; the training set skimage holds astronaut and chelsea)."""
    if not train_dir:
        from translate_plugins.srgan.data import open_hr

        source = open_hr("skimage-test", "--hr")
        return [source.load(i, 3) for i in range(len(source))]
    images = []
    for name in SR_TEST_PHOTOS:
        if name.startswith("sklearn:"):
            from sklearn.datasets import load_sample_image

            images.append(load_sample_image(name.split(":", 1)[1] + ".jpg"))
        else:
            images.append(load_photo(name))
    return images


def sr_scores(generator: torch.nn.Module, scale: int, fid: bool, photos: list["np.ndarray"]) -> dict[str, float]:
    """Mean Y-PSNR, SSIM-Y and LPIPS (RGB, whole photo) of the model (``psnr_y``, ``ssim_y``,
    ``lpips``) and of bicubic (``bicubic_`` + each) on the held-out ``photos``, as the module
    docstring describes; with ``fid``, FID/KID of both against the HR photos over non-overlapping
    64² patches (:func:`distribution_scores`)."""
    import numpy as np
    import torch.nn.functional as F

    from translate.metrics.image_quality import luma_psnr, quantize, ssim

    model, bicubic = [], []
    other: dict[str, list[float]] = {k: [] for k in ("ssim_y", "bicubic_ssim_y", "lpips", "bicubic_lpips")}
    patches: dict[str, list] = {"hr": [], "model": [], "bicubic": []}
    generator.eval()
    for photo in photos:
        hr = torch.from_numpy(np.array(photo)).permute(2, 0, 1)[None].float() / 255
        hr = hr[..., : hr.shape[-2] // scale * scale, : hr.shape[-1] // scale * scale]
        lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
        lr = (lr.clamp(0, 1) * 255).round() / 255
        with torch.no_grad():
            sr = (generator(lr * 2 - 1).float().clamp(-1, 1) + 1) / 2
        bic = F.interpolate(lr, scale_factor=scale, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        model.append(luma_psnr(quantize(sr), hr, scale).item())
        bicubic.append(luma_psnr(quantize(bic), hr, scale).item())
        for prefix, image in (("", quantize(sr)), ("bicubic_", quantize(bic))):
            other[f"{prefix}ssim_y"].append(ssim(image, hr, border=scale, y_channel=True).item())
            other[f"{prefix}lpips"].append(lpips_mean(image, hr))
        if fid:  # patches only for FID/KID
            for name, image in (("hr", hr), ("model", quantize(sr)), ("bicubic", quantize(bic))):
                patches[name].append(to_patches(image, SR_PATCH))
    scores = {"psnr_y": statistics.fmean(model), "bicubic_psnr_y": statistics.fmean(bicubic),
              **{k: statistics.fmean(v) for k, v in other.items()}}
    if fid:
        import numpy as np

        real = np.concatenate(patches["hr"])
        scores.update(distribution_scores(real, {k: np.concatenate(patches[k]) for k in ("model", "bicubic")}))
    return scores


def to_patches(image: torch.Tensor, side: int) -> "np.ndarray":
    """A 1×3×H×W image in [0, 1] → its non-overlapping side² patches, N×side×side×3 (the rest dropped)."""
    rows, cols = image.shape[-2] // side, image.shape[-1] // side
    x = image[0, :, : rows * side, : cols * side].reshape(3, rows, side, cols, side)
    return x.permute(1, 3, 2, 4, 0).reshape(rows * cols, side, side, 3).numpy()


def run_sr(variant: str, seed: int, args: argparse.Namespace, out: Path) -> list[dict[str, float]]:
    """The variant's pretrained (PSNR) model scored, and with ``--gan-steps`` the GAN stage
    trained from it (``--stage gan --init``, the plugin's defaults otherwise) scored as
    ``VARIANT+gan``."""
    from translate.api import train

    torch.set_num_threads(args.threads)
    flags = {"data": args.train_dir or "skimage", "seed": seed, "size": args.size,
             "batch_size": args.batch_size, "precision": args.precision, "sample_every": 0,
             **parse_variant(variant, VARIANTS)}
    if args.n_blocks is not None:
        flags["n_blocks"] = args.n_blocks
    stages = [(variant, out, {"stage": "pretrain", "steps": args.steps})]
    if args.gan_steps:
        stages.append((f"{variant}+gan", out / "gan", {"stage": "gan", "steps": args.gan_steps,
                                                        "init": str(out / "model.safetensors")}))
    rows, photos = [], sr_test_images(args.train_dir)  # loaded once for both stages
    for name, folder, stage in stages:
        t0 = time.perf_counter()
        model = train("srgan", out=folder, progress=False, **flags, **stage)
        seconds = time.perf_counter() - t0
        scores = sr_scores(model.modules["generator"], model.config.scale, args.fid, photos)
        rows.append({"variant": name, "seed": seed, **scores, "seconds": seconds})
    return rows


def main_sr(args: argparse.Namespace) -> None:
    variants = args.variants.split(",")
    test_set = f"held-out photos {','.join(SR_TEST_PHOTOS)}" if args.train_dir else "skimage-test"
    print_header(args, "SR ×4 pretrain", f"trained on --data {args.train_dir or 'skimage'}, scored on {test_set}")
    results: dict[str, list[dict[str, float]]] = {
        name: [] for v in variants for name in (v, f"{v}+gan")[:1 + bool(args.gan_steps)]}
    with run_folder(args) as tmp, concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_sr, v, seed, args, Path(tmp) / f"{v}-{seed}")
                   for v in variants for seed in range(args.first_seed, args.first_seed + args.seeds)]
        for future in concurrent.futures.as_completed(futures):
            for r in future.result():
                results[r["variant"]].append(r)
                print(f"  {r['variant']:<8} seed {r['seed']}: {r['psnr_y']:.2f} dB (bicubic {r['bicubic_psnr_y']:.2f}), "
                      f"SSIM-Y {r['ssim_y']:.3f}, LPIPS {r['lpips']:.3f} in {r['seconds']:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'task':<38} {'model Y-PSNR':>16} {'bicubic':>8} {'gain (dB)':>16} {'SSIM-Y':>6} {'bicubic':>7} "
          f"{'LPIPS':>6} {'bicubic':>7}  per seed (gain)")
    for v, rows in results.items():
        rows.sort(key=lambda r: r["seed"])
        gains = [r["psnr_y"] - r["bicubic_psnr_y"] for r in rows]
        label = f"SR ×4 {'photos' if args.train_dir else 'skimage-test'}, {v}"
        means = {k: statistics.fmean(r[k] for r in rows) for k in ("ssim_y", "bicubic_ssim_y", "lpips", "bicubic_lpips")}
        print(f"{label:<38} {spread([r['psnr_y'] for r in rows]):>16} {rows[0]['bicubic_psnr_y']:8.2f} "
              f"{spread(gains):>16} {means['ssim_y']:6.3f} {means['bicubic_ssim_y']:7.3f} {means['lpips']:6.3f} "
              f"{means['bicubic_lpips']:7.3f}  {' '.join(f'{g:+.2f}' for g in gains)}" + fid_cells(rows, ("model", "bicubic")))
    print(lpips_line())
    if args.fid:
        print(f"FID / KID: model / bicubic against the HR photos, over their {SR_PATCH}² patches (lower is better)")
