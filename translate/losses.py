"""The adversarial loss family, on discriminator logits. Each loss is a small pure object
implementing :class:`translate.interfaces.Loss`; plugins pick one by name with ``make_loss``.

Logits are promoted to float32 first: under bf16 autocast a loss near 0 would otherwise round away.
Working on logits with ``softplus`` keeps the log-losses finite where ``log(sigmoid(x))``
underflows: log D(x) = -softplus(-x) and log(1 - D(x)) = -softplus(x).
"""

from __future__ import annotations

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
    gradients early in training. The seed notes' recommended default."""

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


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (Minimax, NonSaturating, LeastSquares, Hinge)}


def make_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise UserError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()
