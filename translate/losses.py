"""The adversarial loss family, on discriminator logits. Each loss is a small pure object
implementing :class:`translate.interfaces.Loss`; plugins pick one by name with ``make_loss``.
The regularisers that go with some of them are plain functions: ``clip_weights`` (WGAN),
``gradient_penalty`` (WGAN-GP) and ``r1_penalty`` (R1).

Logits are promoted to float32 first: under bf16 autocast a loss near 0 would otherwise round away.
Working on logits with ``softplus`` keeps the log-losses finite where ``log(sigmoid(x))``
underflows: log D(x) = -softplus(-x) and log(1 - D(x)) = -softplus(x).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from .errors import UserError
from .interfaces import Loss


class Minimax(Loss):
    """The original game (Goodfellow et al. 2014, eq. 1): D maximises log D(x) + log(1 - D(G(z)));
    G minimises log(1 - D(G(z))), which saturates when D confidently rejects early samples."""

    name = "minimax"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -F.softplus(fake.float()).mean()  # log(1 - D(G(z)))


class NonSaturating(Minimax):
    """Same D loss; G minimises -log D(G(z)) (Goodfellow et al. 2014, §3), which has strong
    gradients early in training; the usual default."""

    name = "nonsaturating"

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake.float()).mean()  # -log D(G(z))


class LeastSquares(Loss):
    """LSGAN (Mao et al. 2017, eq. 2 with a=0, b=c=1): D: ½E[(D(x)-1)²] + ½E[D(G(z))²];
    G: ½E[(D(G(z))-1)²]."""

    name = "lsgan"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real.float() - 1) ** 2).mean() + 0.5 * (fake.float() ** 2).mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * ((fake.float() - 1) ** 2).mean()


class Hinge(Loss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D: E[relu(1-D(x))] + E[relu(1+D(G(z)))];
    G: -E[D(G(z))]."""

    name = "hinge"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.float().mean()


class Wasserstein(Loss):
    """WGAN (Arjovsky et al. 2017, Alg. 1): the critic maximises E[D(x)] - E[D(G(z))], an estimate
    of the Wasserstein-1 distance when D is 1-Lipschitz; G minimises -E[D(G(z))]. The Lipschitz
    constraint comes from elsewhere: ``clip_weights`` after each critic step (WGAN) or
    ``gradient_penalty`` added to this loss (WGAN-GP)."""

    name = "wgan"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.float().mean() - real.float().mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.float().mean()


class WassersteinGP(Wasserstein):
    """WGAN-GP (Gulrajani et al. 2017, Alg. 1): the same critic and generator losses; the trainer
    adds λ·``gradient_penalty`` instead of clipping weights."""

    name = "wgan-gp"


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (Minimax, NonSaturating, LeastSquares, Hinge,
                                                             Wasserstein, WassersteinGP)}


@functools.lru_cache(maxsize=None)
def make_loss(name: str) -> Loss:
    """The loss called ``name``. Losses are stateless, so one shared instance per name is kept."""
    if name not in LOSSES:
        raise UserError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()


# ---- regularisers -----------------------------------------------------------------------------

def clip_weights(module: torch.nn.Module, c: float) -> None:
    """Clamp every parameter of the critic to [-c, c] (Arjovsky et al. 2017, Alg. 1, line 7: c = 0.01),
    a crude way to keep it K-Lipschitz."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


def _per_sample_norm(grad: torch.Tensor) -> torch.Tensor:
    """‖g_i‖ over all non-batch dimensions, one value per sample (not one for the whole batch)."""
    return grad.flatten(1).float().norm(2, dim=1)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ - 1)²] at x̂ = ε·x + (1-ε)·G(z) (Gulrajani et al. 2017, Alg. 1, lines 6-8).

    ε ~ U[0, 1] is drawn once *per sample* (not once per batch), and the norm is taken per sample
    over all of its dimensions (C×H×W for images), never over the whole batch. ``eps`` (N,) may be
    given, for tests. The graph is kept so the penalty trains the critic (double backprop)."""
    real, fake = real.detach(), fake.detach()
    if eps is None:
        eps = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    eps = eps.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).float().sum(), mixed, create_graph=True)
    return ((_per_sample_norm(grad) - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E[‖∇ₓD(x)‖²] on real data (Mescheder et al. 2018, eq. 9); the caller scales it by γ/2.
    ``real`` must have had ``requires_grad_(True)`` before ``real_logits = D(real)``."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()  # squared norm: no sqrt to differentiate at 0
