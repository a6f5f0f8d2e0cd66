"""pix2pix training step, preview and apply (Isola et al. 2017).

Objective (§3.1, eq. 4): G* = arg min_G max_D L_cGAN(G, D) + λ·L_L1(G), where D judges the input
and the output together (a conditional GAN) and L_L1 = E‖y − G(x)‖₁ pulls the output towards the
target; the adversarial term only has to supply the high frequencies L1 blurs away (§3.2.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.errors import UserError
from translate.losses import make_loss
from translate.plugin import Preview
from translate.tiling import tiled

from .networks import UNetGenerator


def train_step(ctx) -> dict[str, torch.Tensor]:
    """One D update, then one G update, on the same batch and the same G(x), as in the reference
    implementation: computing G(x) once saves a third of the generator's work per step."""
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    config = ctx.config
    batch = ctx.next_batch()
    x, y = batch["input"], batch["target"]
    gan = make_loss(config.loss)
    with ctx.autocast():
        fake = G(x)
        # D on real and fake pairs in separate calls, so batch norm sees each set on its own.
        real_logits = D(torch.cat([x, y], 1))
        fake_logits = D(torch.cat([x, fake.detach()], 1))
        # Halved "while optimizing D, which slows down the rate at which D learns" (§3.3).
        loss_d = 0.5 * gan.discriminator(real_logits, fake_logits)
    ctx.optimize("discriminator", loss_d)
    with ctx.autocast(), ctx.frozen(D):
        loss_gan = gan.generator(D(torch.cat([x, fake], 1)))
        loss_l1 = F.l1_loss(fake.float(), y.float())
        ctx.optimize("generator", loss_gan + config.lambda_l1 * loss_l1)
    return {"loss_d": loss_d.detach(), "loss_g_gan": loss_gan.detach(), "loss_g_l1": loss_l1.detach()}


def normalise_direction(value: str) -> str:
    key = value.replace("_", "").replace("-", "").lower()
    names = {"atob": "AtoB", "a2b": "AtoB", "btoa": "BtoA", "b2a": "BtoA"}
    if key not in names:
        raise UserError(f"--direction {value}: use AtoB (a2b) or BtoA (b2a)")
    return names[key]


def apply(generator: UNetGenerator, config, images: torch.Tensor, tile: int = 512, overlap: int = 32,
          direction: str | None = None, junyanz_test_mode: bool = False, seed: int = 0) -> torch.Tensor:
    """Translate images of any size: padded to a multiple of 2^depth and cropped back; images larger
    than ``tile`` go through overlapping tiles with blended seams (memory bounded by the tile).

    The generator runs in eval mode: batch norm uses its running statistics, and dropout is off.
    The paper instead keeps dropout and test-batch statistics at test time (§3.2, §6.1), but its
    own outputs show "only minor stochasticity" (§3.2); eval mode makes apply deterministic, makes
    an image's output independent of the rest of its batch, and lets tiles match whole images.
    ``junyanz_test_mode`` is the reference code's test-time behaviour instead
    (:func:`reference.apply_junyanz_test_mode`): whole images, one at a time, no tiles."""
    if direction is not None and normalise_direction(direction) != config.direction:
        raise UserError(f"--direction {direction}: this model was trained --direction {config.direction} and "
                        f"only translates that way; train another with --direction "
                        f"{'BtoA' if config.direction == 'AtoB' else 'AtoB'} for the reverse")
    if tile < 1 or overlap < 0:
        raise UserError("--tile must be at least 1 and --overlap at least 0")
    if junyanz_test_mode:
        from .reference import apply_junyanz_test_mode

        return apply_junyanz_test_mode(generator, images, seed)
    was_training = generator.training
    generator.eval()
    try:
        return tiled(generator, images, tile=tile, overlap=overlap, multiple=generator.multiple)
    finally:
        generator.train(was_training)


PREVIEW_COLUMNS = ("input", "output", "target")


def preview(ctx, batch: dict[str, torch.Tensor]) -> Preview:
    """One row per preview item: input | output | target (the eval-mode generator)."""
    G = ctx.inference_modules()["generator"]
    x, y = batch["input"], batch["target"]
    images = torch.stack([x.float(), G(x).float(), y.float()], dim=1).flatten(0, 1)
    return Preview(images, columns=PREVIEW_COLUMNS,
                   title="the same training pairs at every step: the generator's output beside its input and target")
