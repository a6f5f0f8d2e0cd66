"""The relativistic average GAN loss of ESRGAN (Wang et al. 2018, §3.2, eqs. 1-2; after
Jolicoeur-Martineau 2018, "The relativistic discriminator: a key element missing from standard GAN").

A standard discriminator estimates the probability that an image is real, D(x) = σ(C(x)). The
relativistic average discriminator estimates whether a real image is more realistic than the
fakes are on average:

    D_Ra(x_r, x_f) = σ(C(x_r) − E_xf[C(x_f)])

    L_D^Ra = −E_xr[log D_Ra(x_r, x_f)] − E_xf[log(1 − D_Ra(x_f, x_r))]          (eq. 1)
    L_G^Ra = −E_xr[log(1 − D_Ra(x_r, x_f))] − E_xf[log D_Ra(x_f, x_r)]           (eq. 2)

so the generator is trained by the gradients of real images as well as of its own (the G term
needs the discriminator's logits on the real batch). Expectations are batch means. With logits,
log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z), which stay finite where σ saturates.
BasicSR's ESRGAN model halves the two D terms and detaches the other side's logits in each; this
is the paper's formula.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from translate.interfaces import Loss


class RelativisticAverage(Loss):
    """RaGAN on discriminator logits C(x) (Wang et al. 2018, eqs. 1-2)."""

    name = "ragan"

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        real, fake = real.float(), fake.float()
        return F.softplus(-(real - fake.mean())).mean() + F.softplus(fake - real.mean()).mean()

    def generator(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        if real is None:
            raise ValueError("the relativistic generator loss needs the discriminator's logits on real images")
        real, fake = real.float(), fake.float()
        return F.softplus(real - fake.mean()).mean() + F.softplus(-(fake - real.mean())).mean()
