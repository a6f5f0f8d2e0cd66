"""SRGAN's steps (Ledig et al. 2017, §2–3): the SRResNet pretraining step (content loss only) and
the adversarial steps (content + 1e-3 · adversarial), preview and tiled apply. With ``--arch
rrdb`` the same steps train ESRGAN (Wang et al. 2018, eq. 3): content + λ · relativistic adversarial + η · L1 pixel loss."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from translate.errors import UserError
from translate.plugin import Preview

from .data import upscale_bicubic
from .losses import RAGAN, adversarial_loss

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


def preview(G: torch.nn.Module, batch: dict[str, Any], scale: int) -> Preview:
    """One row per preview item, every image at HR size: the LR input as its pixels are (nearest
    neighbour), the bicubic baseline, the SR output and the HR target."""
    lr = batch["lr"].float()
    pixels = F.interpolate(lr, scale_factor=scale, mode="nearest")
    bicubic = upscale_bicubic((lr + 1) / 2, scale) * 2 - 1
    images = torch.stack([pixels, bicubic, G(batch["lr"]).float().clamp(-1, 1), batch["hr"].float()], dim=1)
    return Preview(images.flatten(0, 1),
                   columns=(f"LR input (×{scale}, nearest)", f"bicubic ×{scale} (baseline)", "SR output",
                            "HR target"),
                   title=f"the same training crops at every step, ×{scale}: the output should beat bicubic and "
                         "approach the target")


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
    # clamp: the bicubic skip overshoots at edges (bicubic rings), and an image is in [-1, 1]; in
    # place, as tiled's output is new: a second copy of a large SR image is gigabytes
    return tiled(G, images, tile=tile, overlap=overlap, scale=scale, multiple=getattr(G, "multiple", 1)).clamp_(-1, 1)
