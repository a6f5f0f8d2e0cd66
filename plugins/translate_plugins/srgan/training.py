"""SRGAN's steps (Ledig et al. 2017, §2–3): the SRResNet pretraining step (content loss only) and
the adversarial steps (content + 1e-3 · adversarial), plus init from a pretrained checkpoint,
tiled apply and the PSNR/SSIM evaluation. With ``--arch rrdb`` the same steps train ESRGAN
(Wang et al. 2018, eq. 3): content + λ · relativistic adversarial + η · L1 pixel loss."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from translate.checkpoint import MODEL_FORMAT, read_safetensors
from translate.errors import UserError, listing
from translate.fileio import atomic_path
from translate.losses import make_loss
from translate.nn.state import sub_state

from .data import downscale, open_hr, upscale_bicubic
from .metrics import psnr_y, quantize, ssim_y
from .ragan import RelativisticAverage

ADVERSARIAL = make_loss("nonsaturating")  # -log D(G(I_LR)) for G, BCE for D (Ledig et al. 2017, eq. 6)
RAGAN = RelativisticAverage()  # Wang et al. 2018, eqs. 1-2
# Config fields that fix the generator's layout: an --init checkpoint must agree on all of them.
ARCHITECTURE = ("arch", "scale", "n_blocks", "features", "growth", "residual", "value_range")


def adversarial_loss(config):
    """The gan stage's adversarial loss (``gan_loss``, resolved by finalize_config)."""
    return RAGAN if config.gan_loss == "ragan" else ADVERSARIAL


# ---- content loss ---------------------------------------------------------------------------

def make_content_loss(config, device: torch.device):
    """A callable (sr, hr) → scalar. VGG weights are read here, at training time only."""
    if config.content_loss == "mse":
        return lambda sr, hr: F.mse_loss(sr.float(), hr.float())
    if config.content_loss == "l1":
        return lambda sr, hr: F.l1_loss(sr.float(), hr.float())
    from .perceptual import VGG54Loss, find_weights, load_vgg54

    return VGG54Loss(load_vgg54(find_weights(config.vgg_weights))).to(device)


# ---- init from a pretrained SRResNet ---------------------------------------------------------

def load_init(generator: torch.nn.Module, path: str, config) -> None:
    """Copy the generator weights of a ``translate train srgan`` checkpoint (EMA ones if it has
    them) into ``generator``; the architecture must match."""
    tensors, meta = read_safetensors(path, MODEL_FORMAT)
    if meta.get("plugin") != "srgan":
        raise UserError(f"--init {path}: a checkpoint of plugin '{meta.get('plugin')}', not srgan; "
                        "pass the model.safetensors of a 'translate train srgan --stage pretrain' run")
    saved = json.loads(meta.get("config", "{}"))
    for key in ARCHITECTURE:
        if key == "residual" and config.arch == "rrdb":
            continue  # rrdb ignores it
        if key in saved and saved[key] != getattr(config, key):
            raise UserError(f"--init {path}: trained with {key.replace('_', '-')} {saved[key]}, this run uses "
                            f"{getattr(config, key)}; use the same --{key.replace('_', '-')}")
    state = sub_state(tensors, "ema.generator" if meta.get("ema") == "true" else "generator")
    try:
        generator.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"--init {path}: generator weights do not fit ({str(exc).splitlines()[0]})") from None


# ---- steps ----------------------------------------------------------------------------------

def pretrain_step(ctx, content) -> dict[str, torch.Tensor]:
    """SRResNet: one generator update on the content loss alone (no discriminator)."""
    batch = ctx.next_batch()
    with ctx.autocast():
        loss = content(ctx.modules["generator"](batch["lr"]), batch["hr"])
        ctx.optimize("generator", loss)
    return {"loss_content": loss.detach()}


def discriminator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    with torch.no_grad():
        fake = G(batch["lr"])
    loss = adversarial_loss(ctx.config).discriminator(D(batch["hr"]), D(fake))
    ctx.optimize("discriminator", loss)
    return {"loss_d": loss.detach()}


def generator_step(ctx, batch: dict[str, Any], content) -> dict[str, torch.Tensor]:
    """SRGAN's perceptual loss l^SR = content + 1e-3 · adversarial (Ledig et al. 2017, eq. 3), or
    ESRGAN's L_G = L_percep + λ · L_G^Ra + η · L_1 (Wang et al. 2018, eq. 3) with ``gan_loss``
    ragan and ``pixel_weight`` η."""
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    config, hr = ctx.config, batch["hr"]
    gan = adversarial_loss(config)
    with ctx.frozen(D):
        sr = G(batch["lr"])
        l_content = content(sr, hr)
        # The relativistic G loss compares with the real logits; they do not depend on G.
        real_logits = D(hr).detach() if gan is RAGAN else None
        l_adv = gan.generator(D(sr), real_logits)
        loss = l_content + config.adversarial_weight * l_adv
        logs = {"loss_content": l_content.detach(), "loss_adv": l_adv.detach()}
        if config.pixel_weight:
            l_pixel = F.l1_loss(sr.float(), hr.float())
            loss = loss + config.pixel_weight * l_pixel
            logs["loss_pixel"] = l_pixel.detach()
        ctx.optimize("generator", loss)
    return {"loss_g": loss.detach(), **logs}


def preview(G: torch.nn.Module, batch: dict[str, Any], scale: int) -> torch.Tensor:
    """Each row: bicubic | SR | HR, side by side."""
    lr = batch["lr"]
    bicubic = upscale_bicubic((lr.float() + 1) / 2, scale) * 2 - 1
    return torch.cat([bicubic, G(lr).float().clamp(-1, 1), batch["hr"].float()], dim=-1)


# ---- inference ------------------------------------------------------------------------------

def super_resolve(G: torch.nn.Module, images: torch.Tensor, scale: int, tile: int = 512,
                  overlap: int = 32) -> torch.Tensor:
    """LR in [-1, 1] (any size) → SR in [-1, 1] on the CPU; tiles of ``tile`` LR pixels bound the
    activations (a 512² LR tile at ×4 makes 2048² outputs), and only the output image is whole.
    Sides are padded to the generator's ``multiple`` (RRDB ×2 / ×1: its pixel-unshuffle factor)
    and the output cropped back; values are clamped to the image range."""
    from translate.tiling import tiled

    if tile < 16:
        raise UserError(f"--tile {tile}: too small for super-resolution; use at least 64")
    # clamp: the bicubic skip overshoots at edges (bicubic rings), and an image is in [-1, 1]
    return tiled(G, images, tile=tile, overlap=overlap, scale=scale, multiple=getattr(G, "multiple", 1)).clamp(-1, 1)


def evaluate(G: torch.nn.Module, config, out_dir: Path, hr: str, limit: int | None = None, tile: int = 512,
             echo=print, seed: int = 0, inception_weights: str | None = None, lpips_weights: str | None = None,
             lpips_heads: str | None = None) -> dict[str, float]:
    """Y-PSNR / SSIM of SR and of bicubic on every image of ``hr`` (a folder or built-in set):
    each HR image is cropped to a multiple of the scale, downscaled bicubically to LR, rounded to
    8 bits, super-resolved and rounded again; ``scale`` border pixels are ignored. The SR outputs
    and HR crops are written to OUT/fake and OUT/real, which give LPIPS (when its weights are
    here) and FID/KID (translate.evaluation.folder_metrics)."""
    from translate import evaluation as ev

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
        row = {"image": name, "psnr_y": psnr_y(sr, target, s).item(), "ssim_y": ssim_y(sr, target, s).item(),
               "bicubic_psnr_y": psnr_y(bic, target, s).item(), "bicubic_ssim_y": ssim_y(bic, target, s).item()}
        rows.append(row)
        echo(f"{name:<32} {row['psnr_y']:7.2f} {row['ssim_y']:7.4f} {row['bicubic_psnr_y']:9.2f} "
             f"{row['bicubic_ssim_y']:9.4f}")
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
