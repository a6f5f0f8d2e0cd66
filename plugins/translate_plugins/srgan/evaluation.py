"""``translate eval`` of a super-resolution model: Y-channel PSNR/SSIM as super-resolution papers
report them (Ledig et al. 2017, §3.1: on the luma channel, ``scale`` pixels cropped from each
border, 8-bit images; ``translate.metrics.image_quality``) next to bicubic, and LPIPS and FID/KID
of the SR outputs against the HR images (``translate.evaluation``)."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from translate.errors import UserError, listing
from translate.fileio import atomic_path
from translate.metrics.image_quality import luma_psnr, luma_ssim, quantize

from .data import downscale, open_hr, upscale_bicubic
from .training import super_resolve


def evaluate(G: torch.nn.Module, config, out_dir: Path, hr: str, limit: int | None = None, tile: int = 512,
             echo=None, seed: int = 0, inception_weights: str | None = None, lpips_weights: str | None = None,
             lpips_heads: str | None = None, progress=None) -> dict[str, float]:
    """Y-PSNR / SSIM of SR and of bicubic on every image of ``hr`` (a folder or built-in set):
    each HR image is cropped to a multiple of the scale, downscaled bicubically to LR, rounded to
    8 bits, super-resolved and rounded again; ``scale`` border pixels are ignored. The SR outputs
    and HR crops are written to OUT/fake and OUT/real, which give LPIPS (when its weights are
    here) and FID/KID (translate.evaluation.folder_metrics). The per-image table goes to
    ``echo``: the core's progress reporter when given (above its bar; quiet when it is), else print."""
    from translate import evaluation as ev

    echo = echo or getattr(progress, "write", print)
    progress = progress or ev.no_progress

    source = open_hr(hr, "--hr")
    names = [str(p.relative_to(source.origin)) for p in source.paths] if source.paths else source.classes
    names = names[:limit] if limit else names
    files = [Path(name).with_suffix("").as_posix() if source.paths else name for name in names]
    s = config.scale
    # Every size is checked (from the headers) before anything is scored or written: a small image
    # found halfway used to leave half an evaluation in OUT. After cropping to a multiple of the
    # scale, each side needs the scale's border twice plus SSIM's 11-px window.
    need = -(-(2 * s + 11) // s) * s  # the smallest such side that is a multiple of the scale
    small = []
    for i, name in enumerate(names):
        w, h = ev.source_image_size(source, i)
        if min(w - w % s, h - h % s) < need:
            small.append(f"{source.paths[i] if source.paths else name} ({w}×{h})")
    if small:
        raise UserError(f"--hr {hr}: {len(small)} image(s) too small to score at ×{s} (each side needs at least "
                        f"{need} px): {listing(small)}; remove them from --hr or enlarge them")
    fake_dir, real_dir = ev.output_folder(out_dir, "fake"), ev.output_folder(out_dir, "real")
    device = next(G.parameters()).device
    rows = []
    echo(f"{'image':<32} {'psnr':>7} {'ssim':>7} {'bic-psnr':>9} {'bic-ssim':>9}")
    for i, name in enumerate(names):
        img = torch.from_numpy(source.load(i, 3).copy()).permute(2, 0, 1)[None].float() / 255
        h, w = img.shape[-2] - img.shape[-2] % s, img.shape[-1] - img.shape[-1] % s
        target = img[..., :h, :w]
        lr = downscale(target, s)
        with torch.no_grad():
            sr = super_resolve(G, (lr * 2 - 1).to(device), s, tile=tile)
        sr = quantize((sr + 1) / 2)
        bic = quantize(upscale_bicubic(lr, s))
        ev.write_images(fake_dir, sr * 2 - 1, [files[i]])
        ev.write_images(real_dir, target * 2 - 1, [files[i]])
        row = {"image": name, "psnr_y": luma_psnr(sr, target, s).item(), "ssim_y": luma_ssim(sr, target, s).item(),
               "bicubic_psnr_y": luma_psnr(bic, target, s).item(), "bicubic_ssim_y": luma_ssim(bic, target, s).item()}
        rows.append(row)
        echo(f"{name:<32} {row['psnr_y']:7.2f} {row['ssim_y']:7.4f} {row['bicubic_psnr_y']:9.2f} "
             f"{row['bicubic_ssim_y']:9.4f}")
        progress("super-resolving", i + 1, len(names))
    keys = ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y")
    means = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
    path = Path(out_dir) / "srgan_eval.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", *keys])
        writer.writeheader()
        writer.writerows(rows + [{"image": "MEAN", **means}])
    echo(f"{'mean':<32} {means['psnr_y']:7.2f} {means['ssim_y']:7.4f} {means['bicubic_psnr_y']:9.2f} "
         f"{means['bicubic_ssim_y']:9.4f}   (Y channel, border {s}; per-image report: {path})")
    ev.add_protocol("psnr_ssim_y", f"Y of ITU-R BT.601 (16-235), {s} px (the scale) cropped from each border, 8-bit "
                              "levels, peak 255, float64; SSIM Gaussian 11×11 σ 1.5; mean of per-image values. "
                              f"LR = HR cropped to a multiple of {s}, antialiased bicubic ÷{s}, rounded to 8 bits; "
                              f"SR rounded to 8 bits; bicubic_* = antialiased bicubic ×{s} of the same LR")
    perceptual = ev.folder_metrics(real_dir, fake_dir, keys=("fid", "kid", "kid_std", "lpips"),
                                   inception_weights=inception_weights, lpips_weights=lpips_weights,
                                   lpips_heads=lpips_heads, device=device, seed=seed)
    return {**means, **perceptual, "images": len(rows)}
