"""One discriminator step and one generator step of the GAN game (Goodfellow et al. 2014, Alg. 1),
with the stabilisers of the config: WGAN weight clipping, WGAN-GP, R1, DiffAugment, conditioning."""

from __future__ import annotations

import functools
from typing import Any

import torch

from translate.errors import UserError
from translate.losses import clip_weights, gradient_penalty, make_loss, r1_penalty


def real_samples(batch: dict[str, Any]) -> torch.Tensor:
    return batch["point"] if "point" in batch else batch["image"]


def batch_labels(config, batch: dict[str, Any]) -> torch.Tensor | None:
    """Class labels of a conditional model: fakes get the real batch's labels, so D sees the same
    class balance on both sides."""
    return batch["label"].long() if config.conditional else None


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN packing (Lin et al. 2018, §3): m consecutive samples become one input of D, joined
    along the channel (images) or feature (points) axis; (B, C, ...) → (B/m, m·C, ...). Packing
    happens before D, so WGAN-GP and R1 penalise the gradient of each packed input as a whole."""
    if m == 1:
        return x
    if x.shape[0] % m:
        raise UserError(f"--pack {m}: the batch of {x.shape[0]} samples does not split into packs of {m}; "
                        f"use a --batch-size that is a multiple of {m}")
    return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])


def _augment(config):
    if not config.diffaugment:
        return lambda x: x
    from .diffaugment import diff_augment

    return functools.partial(diff_augment, policy=tuple(config.diffaugment))


def discriminator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    cfg = ctx.config
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    real, y = real_samples(batch), batch_labels(cfg, batch)
    with torch.no_grad():
        fake = G(ctx.randn(real.shape[0], cfg.latent_dim), y)
    aug = _augment(cfg)
    if cfg.r1 > 0:  # R1 differentiates D with respect to the (un-augmented) real input
        real = real.detach().requires_grad_(True)
    real_in, fake_in = pack(aug(real), cfg.pack), pack(aug(fake), cfg.pack)
    real_logits, fake_logits = D(real_in, y), D(fake_in, y)
    loss = make_loss(cfg.loss).discriminator(real_logits, fake_logits)
    logs = {"loss_d": loss.detach()}
    if cfg.loss == "wgan-gp":
        gp = gradient_penalty(lambda x: D(x, y), pack(real, cfg.pack), pack(fake, cfg.pack))  # per pack
        loss = loss + cfg.gp_weight * gp
        logs["gp"] = gp.detach()
    if cfg.r1 > 0:
        # Per sample, ×m = per pack: a pack's squared gradient norm sums its m samples' (pack is a reshape).
        r1 = r1_penalty(real_logits, real) * cfg.pack
        loss = loss + 0.5 * cfg.r1 * r1  # γ/2 (Mescheder et al. 2018, eq. 9)
        logs["r1"] = r1.detach()
    ctx.optimize("discriminator", loss)
    if cfg.loss == "wgan":
        clip_weights(D, cfg.clip)
    return logs


def generator_step(ctx, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    cfg = ctx.config
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    n, y = real_samples(batch).shape[0], batch_labels(cfg, batch)
    with ctx.frozen(D):
        fake = G(ctx.randn(n, cfg.latent_dim), y)
        loss = make_loss(cfg.loss).generator(D(pack(_augment(cfg)(fake), cfg.pack), y))
        ctx.optimize("generator", loss)
    return {"loss_g": loss.detach()}


def class_index(config, label: str) -> int:
    if not config.conditional:
        raise UserError(f"--class {label}: this gan model is unconditional (trained without --conditional)")
    if label not in config.classes:
        raise UserError(f"--class {label}: not a class of this model; choose one of {', '.join(config.classes)}")
    return config.classes.index(label)


def sample_labels(config, n: int, label: str | None) -> torch.Tensor | None:
    """The requested class for every sample, or the classes in turn (0, 1, ..., K-1, 0, ...)."""
    if not config.conditional:
        if label is not None:
            class_index(config, label)  # raises the one-line error
        return None
    if label is None:
        return torch.arange(n) % len(config.classes)
    return torch.full((n,), class_index(config, label), dtype=torch.long)


def generate(generator: torch.nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    device = next(generator.parameters()).device
    return generator(z.to(device), None if labels is None else labels.to(device))


def sample(generator: torch.nn.Module, config, n: int, rng: torch.Generator, label: str | None = None) -> torch.Tensor:
    labels = sample_labels(config, n, label)
    z = torch.randn(n, generator.latent_dim, generator=rng)
    return generate(generator, z, labels)
