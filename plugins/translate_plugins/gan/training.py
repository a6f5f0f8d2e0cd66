"""One discriminator step and one generator step of the GAN game (Goodfellow et al. 2014, Alg. 1)."""

from __future__ import annotations

import functools
from typing import Any

import torch

from translate.losses import make_loss


@functools.lru_cache(maxsize=None)
def _loss(name: str):
    return make_loss(name)


def real_samples(batch: dict[str, Any]) -> torch.Tensor:
    return batch["point"] if "point" in batch else batch["image"]


def discriminator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    real = real_samples(batch)
    with torch.no_grad():
        fake = G(ctx.randn(real.shape[0], ctx.config.latent_dim))
    loss = _loss(ctx.config.loss).discriminator(D(real), D(fake))
    ctx.optimize("discriminator", loss)
    return {"loss_d": loss.detach()}


def generator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    n = real_samples(batch).shape[0]
    with ctx.frozen(D):
        loss = _loss(ctx.config.loss).generator(D(G(ctx.randn(n, ctx.config.latent_dim))))
        ctx.optimize("generator", loss)
    return {"loss_g": loss.detach()}


def sample(generator: torch.nn.Module, n: int, rng: torch.Generator) -> torch.Tensor:
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=rng).to(device)
    return generator(z)
