"""One VAE-GAN update (Larsen et al. 2016, Alg. 1), sampling and reconstruction.

Each network minimises its own objective, all evaluated at the same parameters:

    encoder        L_prior + L_llike          (KL to N(0, I) + feature reconstruction)
    decoder        γ·L_llike − L_GAN          (non-saturating form by default)
    discriminator  L_GAN on real images, reconstructions x̃ = Dec(Enc(x)) and samples Dec(z_p)

The discriminator is not trained on L_llike, and the GAN error does not reach the encoder
("limiting error signals to relevant networks", §2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.losses import make_loss


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over z, averaged over the batch (L_prior, §2)."""
    mu, logvar = mu.float(), logvar.float()
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()


def feature_nll(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log N(Dis_l(x) | Dis_l(x̃), I) up to a constant: half the squared feature distance, summed
    over features, averaged over the batch (L_llike^Dis_l, §2)."""
    return 0.5 * (recon.float() - target.float()).pow(2).flatten(1).sum(1).mean()


def balance(real_logits: torch.Tensor, fake_logits: torch.Tensor, equilibrium: float,
            margin: float) -> tuple[bool, bool]:
    """(update decoder?, update discriminator?) from D's mean cross-entropy on real and fake
    images: pause D while it wins by more than ``margin``, the decoder while it loses by more
    (the authors' code, aegan.py GradientDescent). A margin <= 0 always updates both."""
    if margin <= 0:
        return True, True
    with torch.no_grad():
        costs = (F.softplus(-real_logits.float()).mean().item(), F.softplus(fake_logits.float()).mean().item())
    update_dis = min(costs) >= equilibrium - margin
    update_dec = max(costs) <= equilibrium + margin
    if not (update_dec or update_dis):
        return True, True
    return update_dec, update_dis


def train_step(ctx) -> dict[str, torch.Tensor]:
    E, G, D = ctx.modules["encoder"], ctx.modules["generator"], ctx.modules["discriminator"]
    cfg, adversarial = ctx.config, make_loss(ctx.config.loss)
    x = ctx.next_batch()["image"]
    n = x.shape[0]
    with ctx.autocast():
        mu, logvar = E(x)
        z = mu + (0.5 * logvar).exp() * ctx.randn(*mu.shape)  # reparameterisation trick
        # Two decodings of z give each network only its own gradient in one backward pass:
        # the encoder's path through a frozen decoder, the decoder's path from a detached z.
        with ctx.frozen(G):
            recon_for_encoder = G(z)
        fakes = G(torch.cat([z.detach(), ctx.randn(n, cfg.latent_dim)]))  # x̃ and Dec(z_p)
        with ctx.frozen(D):
            h = D.features(torch.cat([x, recon_for_encoder, fakes]))
            h_real, h_enc, h_fake = h[:n].detach(), h[n:2 * n], h[2 * n:]
            prior = kl_to_prior(mu, logvar)
            llike_enc = feature_nll(h_enc, h_real)
            llike_dec = feature_nll(h_fake[:n], h_real)
            gan_dec = adversarial.generator(D.head(h_fake).view(-1))
            loss_enc = prior + llike_enc
            loss_dec = cfg.gamma * llike_dec + gan_dec
        # D's loss on the same x̃ and Dec(z_p), before anything moves (Alg. 1 computes every
        # gradient at the same parameters).
        logits = D(torch.cat([x, fakes.detach()]))
        loss_d = adversarial.discriminator(logits[:n], logits[n:])
        update_dec, update_dis = balance(logits[:n], logits[n:], cfg.equilibrium, cfg.margin)
        # Encoder and decoder share an optimiser: their losses touch disjoint parameters.
        ctx.optimize("autoencoder", loss_enc + loss_dec if update_dec else loss_enc)
        if update_dis:
            ctx.optimize("discriminator", loss_d)
    return {"loss_d": loss_d.detach(), "loss_gan": gan_dec.detach(), "kl": prior.detach(),
            "llike": llike_enc.detach(), "paused_d": torch.tensor(float(not update_dis))}


def sample(decoder: torch.nn.Module, n: int, rng: torch.Generator) -> torch.Tensor:
    """Decode z ~ N(0, I), the prior the encoder was pulled towards."""
    device = next(decoder.parameters()).device
    return decoder(torch.randn(n, decoder.latent_dim, generator=rng).to(device))


def preview(encoder: torch.nn.Module, decoder: torch.nn.Module, images: torch.Tensor,
            rng: torch.Generator) -> torch.Tensor:
    """The preview grid, one row per input: the input, its reconstruction, a sample from the prior."""
    recon = reconstruct(encoder, decoder, images)
    drawn = sample(decoder, images.shape[0], rng).to(images.dtype)
    return torch.stack([images, recon, drawn], dim=1).flatten(0, 1)


def reconstruct(encoder: torch.nn.Module, decoder: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Dec(mu(x)): the posterior mean, so a reconstruction is deterministic. Images of another
    size are resized to the training size and back (the code is one vector per image)."""
    size = encoder.size
    h, w = images.shape[-2:]
    x = images if (h, w) == (size, size) else F.interpolate(images, (size, size), mode="bilinear",
                                                            antialias=True, align_corners=False)
    mu, _ = encoder(x)
    out = decoder(mu)
    if (h, w) != (size, size):
        out = F.interpolate(out, (h, w), mode="bilinear", align_corners=False).clamp(-1, 1)
    return out
