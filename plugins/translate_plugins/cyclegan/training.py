"""One CycleGAN training step, the image history pool, preview and apply (Zhu et al. 2017).

Naming: ``g_ab`` maps A → B (the paper's G: X → Y), ``g_ba`` maps B → A (F: Y → X); ``d_a``
judges domain-A images (D_X), ``d_b`` domain-B images (D_Y).

Order of one step (as the reference implementation): first the generators, with both
discriminators frozen, on L_GAN + λ·L_cyc + 0.5·λ·L_identity; then the discriminators on the real
images against fakes drawn from the history pools. The fakes of the generator step are reused (detached)
for the discriminator step, so each step costs one set of generator forwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.errors import UserError
from translate.losses import LeastSquares
from translate.plugin import Preview
from translate.tiling import tiled

from .networks import MIN_SIDE, MULTIPLE

LSGAN = LeastSquares()


def _gan_generator_loss(logits: torch.Tensor) -> torch.Tensor:
    # The paper's G term is E[(D(G(x)) - 1)²] (Zhu et al. 2017, §4: MSE against 1, as the
    # reference's MSELoss). LeastSquares.generator carries Mao et al.'s ½, so undo it here to keep
    # λ = 10 balanced against the adversarial term exactly as in the paper.
    return 2.0 * LSGAN.generator(logits)


def _l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(x.float(), y.float())


def identity_factor(step: int, total_steps: int, decay_fraction: float) -> float:
    """The identity-loss weight's multiplier at ``step`` (0-based): 1 throughout when
    ``decay_fraction`` is 0 (the paper), else falling linearly from 1 at step 0 to 0 at
    ``decay_fraction`` × ``total_steps`` and staying 0 after."""
    if decay_fraction <= 0:
        return 1.0
    return max(0.0, 1.0 - step / (decay_fraction * total_steps))


def pool_query(buffers: dict[str, torch.Tensor], name: str, images: torch.Tensor, size: int) -> torch.Tensor:
    """The image history of Shrivastava et al. 2017, as CycleGAN uses it (Zhu et al. 2017, §4: 50
    images): while the pool fills, each new fake is stored and returned; afterwards, with
    probability ½ a random stored fake is returned and replaced by the new one, else the new one is
    returned. The pool is a tensor in ``buffers`` so ``--resume`` restores it; its coin flips come
    from torch's global CPU RNG, which the trainer saves and restores too."""
    images = images.detach()
    if size <= 0:
        return images
    pool = buffers.get(name)
    chosen = []
    for img in images.float():
        if pool is None or pool.shape[0] < size:
            pool = img[None].clone() if pool is None else torch.cat([pool, img[None]])
            chosen.append(img)
        elif torch.rand(()).item() < 0.5:
            j = int(torch.randint(size, ()).item())
            chosen.append(pool[j].clone())
            pool[j] = img
        else:
            chosen.append(img)
    buffers[name] = pool
    out = torch.stack(chosen).to(images.dtype)
    # Keep the caller's memory layout: a resumed pool comes back channels_last, a fresh one may not,
    # and the discriminator must see identical tensors either way.
    layout = torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    return out.contiguous(memory_format=layout)


def train_step(ctx) -> dict[str, torch.Tensor]:
    cfg, m = ctx.config, ctx.modules
    g_ab, g_ba, d_a, d_b = m["g_ab"], m["g_ba"], m["d_a"], m["d_b"]
    batch = ctx.next_batch()
    real_a, real_b = batch["a"], batch["b"]
    with ctx.autocast():
        # ---- generators, discriminators frozen (no wasted weight gradients for D) ----
        with ctx.frozen(d_a, d_b):
            fake_b, fake_a = g_ab(real_a), g_ba(real_b)
            loss_gan = _gan_generator_loss(d_b(fake_b)) + _gan_generator_loss(d_a(fake_a))
            loss_cycle = cfg.lambda_cycle * (_l1(g_ba(fake_b), real_a) + _l1(g_ab(fake_a), real_b))
            loss_g = loss_gan + loss_cycle
            logs = {"loss_g_gan": loss_gan.detach(), "loss_cycle": loss_cycle.detach()}
            # G_AB should leave B images alone (and G_BA A images): keeps colours (§5.2). Once a
            # decaying weight reaches 0 its two generator passes are skipped.
            weight = cfg.lambda_identity * cfg.lambda_cycle * identity_factor(
                ctx.step, ctx.options.steps, cfg.identity_decay)
            if weight > 0:
                loss_idt = weight * (_l1(g_ab(real_b), real_b) + _l1(g_ba(real_a), real_a))
                loss_g = loss_g + loss_idt
                logs["loss_identity"] = loss_idt.detach()
            elif cfg.lambda_identity > 0:  # decayed to 0: the curve goes on at 0 rather than stopping
                logs["loss_identity"] = torch.zeros((), device=loss_g.device)
            ctx.optimize("generators", loss_g)
        # ---- discriminators, on pooled fakes; LeastSquares.discriminator is ½[(D(y)-1)² + D(ŷ)²],
        # i.e. the paper's objective divided by 2 for D (Zhu et al. 2017, §7.1) ----
        pooled_b = pool_query(ctx.buffers, "pool_b", fake_b, cfg.pool_size)
        pooled_a = pool_query(ctx.buffers, "pool_a", fake_a, cfg.pool_size)
        loss_d_b = LSGAN.discriminator(d_b(real_b), d_b(pooled_b))
        loss_d_a = LSGAN.discriminator(d_a(real_a), d_a(pooled_a))
        ctx.optimize("discriminators", loss_d_a + loss_d_b)
    logs.update(loss_g=loss_g.detach(), loss_d_a=loss_d_a.detach(), loss_d_b=loss_d_b.detach())
    return logs


PREVIEW_ROWS = ("A → B", "B → A")


def preview(modules: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor], n: int = 4,
            identity: bool = False) -> Preview:
    """Two rows for each of the first ``n`` preview items, one per direction, as the reference
    project shows them: real A | fake B = G_AB(A) | reconstructed A = G_BA(fake B), then real B |
    fake A | reconstructed B; with ``identity`` a fourth column, the input through the other
    generator (G_BA(A), G_AB(B)), which the identity loss keeps unchanged."""
    g_ab, g_ba = modules["g_ab"], modules["g_ba"]
    a, b = batch["a"][:n], batch["b"][:n]
    fake_b, fake_a = g_ab(a), g_ba(b)
    row_a, row_b = [a, fake_b, g_ba(fake_b)], [b, fake_a, g_ab(fake_a)]
    if identity:
        row_a.append(g_ba(a))
        row_b.append(g_ab(b))
    rows = [torch.stack([image.float() for image in row], dim=1) for row in (row_a, row_b)]  # n×K×C×H×W each
    columns = ("real", "translated (fake)", "reconstructed") + (("identity",) if identity else ())
    return Preview(torch.stack(rows, dim=1).flatten(0, 2), columns=columns, rows=PREVIEW_ROWS,
                   title="rows in turn: A → B (a real A, G_AB of it, and G_BA of that: back to A) and B → A; "
                         + ("identity: the real image through the other generator, which should leave it as it is"
                            if identity else "the same training images at every step"))


DIRECTIONS = {"a2b": "g_ab", "b2a": "g_ba"}


def translate(modules: dict[str, torch.nn.Module], images: torch.Tensor, direction: str = "a2b",
              tile: int = 512, overlap: int = 32) -> torch.Tensor:
    """Images of any size through one generator. Sides are reflection-padded to a multiple of 4 and
    the output cropped back; images larger than ``tile`` go through in overlapping tiles blended
    linearly. Instance norm normalises each tile with its own statistics, so a tiled result is not
    bit-equal to a whole-image pass: seams are blended away, but colours may drift slightly between
    distant tiles; raise ``tile`` (memory permitting) to process images whole."""
    if direction not in DIRECTIONS:
        raise UserError(f"--direction {direction}: a CycleGAN translates a2b (default) or b2a")
    if DIRECTIONS[direction] not in modules:  # a checkpoint imported from one generator file
        have = next(d for d, name in DIRECTIONS.items() if name in modules)
        raise UserError(f"--direction {direction}: this model holds only the {have} generator (imported from "
                        f"one file); use --direction {have}, or import again adding the other direction's file "
                        "with --set reverse=FILE")
    generator = modules[DIRECTIONS[direction]]
    h, w = images.shape[-2:]
    if h < MIN_SIDE or w < MIN_SIDE:  # too small to reflect-pad in the bottleneck: replicate up
        images = F.pad(images, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)), mode="replicate")
    out = tiled(generator, images, tile=max(tile, MIN_SIDE), overlap=overlap, multiple=MULTIPLE)
    return out[..., :h, :w]
