"""One CUT / FastCUT training step, the PatchNCE loss, preview and apply (Park et al. 2020).

Order of one step, as the authors' code (``cut_model.py``): one generator forward on A (and, with
identity NCE, on B in the same batch); the discriminator's update on real B against the detached
fakes; then G and the projection heads, with D frozen, on λ_GAN·L_GAN + λ_NCE·L_NCE, where
L_NCE is PatchNCE on A → G(A), averaged with PatchNCE on B → G(B) under identity NCE. No image
history pool (the authors' CUT uses none).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.losses import LeastSquares
from translate.plugin import Preview
from translate_plugins.cyclegan.training import translate as _translate_a2b

from .networks import encode, sample_locations

LSGAN = LeastSquares()
# The authors fill each query's own entry among the negatives with -10 (a cosine is ≥ -1), so it
# adds exp(-10/τ) ≈ 0 to the softmax's denominator; kept for the same numbers.
MASKED = -10.0


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, batch: int, temperature: float) -> torch.Tensor:
    """PatchNCE of one layer (Park et al. 2020, eq. 2): ``query`` and ``key`` are (N·P)×k unit
    vectors, row i of each at the same location of the same image (output and input). Each query's
    positive is its key; its negatives are the keys of the other P-1 locations of the same image.
    The mean over queries of the cross-entropy of [positive, negatives] / τ against the positive.
    ``key`` is treated as a constant (no gradient reaches it), as the authors'."""
    key = key.detach()
    query, key = query.float(), key.float()
    positive = (query * key).sum(1, keepdim=True)  # (N·P)×1
    q, k = query.view(batch, -1, query.shape[1]), key.view(batch, -1, key.shape[1])
    n_patches = q.shape[1]
    negatives = torch.bmm(q, k.transpose(1, 2))  # N×P×P: every query against every key of its image
    own = torch.eye(n_patches, dtype=torch.bool, device=q.device)[None]
    negatives = negatives.masked_fill(own, MASKED).flatten(0, 1)
    logits = torch.cat([positive, negatives], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))


def nce(generator, projection, source: torch.Tensor, output: torch.Tensor, config,
        flipped: bool = False) -> torch.Tensor:
    """PatchNCE between ``source`` and G's ``output`` for it, averaged over the NCE layers: both
    through G's encoder, the same sampled locations projected by the heads. With ``flipped`` the
    output was made from the mirrored source, so its features are mirrored back first (FastCUT's
    flip equivariance). The keys (the source's side) carry no gradient, so their pass runs without
    one."""
    layers = config.nce_layers
    queries = encode(generator, output, layers)
    if flipped:
        queries = [q.flip(-1) for q in queries]
    with torch.no_grad():
        keys = encode(generator, source, layers)
    where = sample_locations(keys, config.nce_patches)
    q_proj = projection(queries, where)
    with torch.no_grad():
        k_proj = projection(keys, where)
    losses = [patch_nce_loss(q, k, source.shape[0], config.nce_temperature) for q, k in zip(q_proj, k_proj)]
    return torch.stack(losses).mean()


def train_step(ctx) -> dict[str, torch.Tensor]:
    cfg, m = ctx.config, ctx.modules
    generator, disc, projection = m["generator"], m["discriminator"], m["projection"]
    batch = ctx.next_batch()
    real_a, real_b = batch["a"], batch["b"]
    n = real_a.shape[0]
    # The coin comes from torch's CPU generator, which --resume restores.
    flipped = cfg.flip_equivariance and torch.rand(()).item() < 0.5
    with ctx.autocast():
        inputs = torch.cat([real_a, real_b]) if cfg.nce_idt else real_a
        outputs = generator(inputs.flip(-1) if flipped else inputs)
        fake_b = outputs[:n]
        # ---- D: LeastSquares.discriminator is ½[(D(b)-1)² + D(G(a))²], the authors' (fake + real) × 0.5 ----
        loss_d = LSGAN.discriminator(disc(real_b), disc(fake_b.detach()))
        ctx.optimize("discriminator", loss_d)
        # ---- G and the projection heads, D frozen ----
        with ctx.frozen(disc):
            # The authors' MSE against 1; LeastSquares.generator carries Mao et al.'s ½.
            loss_gan = cfg.lambda_gan * 2.0 * LSGAN.generator(disc(fake_b))
            loss_nce = nce(generator, projection, real_a, fake_b, cfg, flipped)
            logs = {"loss_g_gan": loss_gan.detach(), "loss_nce": loss_nce.detach()}
            if cfg.nce_idt:
                loss_idt = nce(generator, projection, real_b, outputs[n:], cfg, flipped)
                logs["loss_nce_idt"] = loss_idt.detach()
                loss_nce = (loss_nce + loss_idt) / 2
            loss_g = loss_gan + cfg.lambda_nce * loss_nce
            ctx.optimize("generator", loss_g)
    return {**logs, "loss_g": loss_g.detach(), "loss_d": loss_d.detach()}


def preview(generator: torch.nn.Module, batch: dict[str, torch.Tensor], n: int = 4, identity: bool = False) -> Preview:
    """For each of the first ``n`` items: real A | G(A); with ``identity`` (identity NCE on) a second
    row, real B | G(B), which identity NCE keeps close to B."""
    a = batch["a"][:n]
    rows = [torch.stack([a.float(), generator(a).float()], dim=1)]  # n×2×C×H×W
    if identity:
        b = batch["b"][:n]
        rows.append(torch.stack([b.float(), generator(b).float()], dim=1))
    names = ("A → B", "B → B (identity)") if identity else ("A → B",)
    return Preview(torch.stack(rows, dim=1).flatten(0, 2), columns=("real", "translated (fake)"), rows=names,
                   title="real A and G of it" + ("; below, real B and G of it, which identity NCE keeps unchanged"
                                                 if identity else "") + "; the same training images at every step")


def translate(generator: torch.nn.Module, images: torch.Tensor, tile: int = 512, overlap: int = 32) -> torch.Tensor:
    """Images of any size through G, padded and tiled as the cyclegan plugin's A → B (its docstring)."""
    return _translate_a2b({"g_ab": generator}, images, direction="a2b", tile=tile, overlap=overlap)
