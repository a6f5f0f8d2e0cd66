"""Every adversarial loss and regulariser against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from translate.errors import UserError
from translate.losses import (
    LOSSES, Hinge, LeastSquares, Minimax, NonSaturating, Wasserstein, WassersteinGP, clip_weights,
    gradient_penalty, make_loss, r1_penalty,
)

LN2, LN3 = math.log(2), math.log(3)
# Logits 0, ln 3 and -ln 3 are probabilities D = 1/2, 3/4 and 1/4.
REAL = torch.tensor([0.0, LN3])
FAKE = torch.tensor([0.0, -LN3])


def close(value: torch.Tensor, expected: float) -> None:
    assert value.dim() == 0
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_minimax_discriminator_and_saturating_generator():
    # D: -E log D(x) - E log(1 - D(G(z))) = -(ln ½ + ln ¾)/2 - (ln ½ + ln ¾)/2
    close(Minimax().discriminator(REAL, FAKE), -(math.log(0.5) + math.log(0.75)))
    # G minimises E log(1 - D(G(z))) with D(G(z)) = ½, ¼: (ln ½ + ln ¾)/2
    close(Minimax().generator(FAKE), (math.log(0.5) + math.log(0.75)) / 2)


def test_nonsaturating_generator():
    close(NonSaturating().generator(FAKE), -(math.log(0.5) + math.log(0.25)) / 2)  # = 1.5 ln 2
    close(NonSaturating().generator(FAKE), 1.5 * LN2)
    close(NonSaturating().discriminator(REAL, FAKE), Minimax().discriminator(REAL, FAKE).item())


def test_log_losses_stay_finite_for_confident_logits():
    assert torch.isfinite(NonSaturating().generator(torch.tensor([-200.0])))
    close(Minimax().discriminator(torch.tensor([200.0]), torch.tensor([-200.0])), 0.0)


def test_least_squares():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    close(LeastSquares().discriminator(real, fake), 0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2)
    close(LeastSquares().generator(fake), 0.5 * (1 + 1) / 2)


def test_hinge():
    real, fake = torch.tensor([0.5, 2.0]), torch.tensor([-2.0, 0.5])
    # relu(1 - 0.5) = 0.5, relu(1 - 2) = 0; relu(1 - 2) = 0, relu(1 + 0.5) = 1.5
    close(Hinge().discriminator(real, fake), (0.5 + 0) / 2 + (0 + 1.5) / 2)
    close(Hinge().generator(fake), -(-2.0 + 0.5) / 2)


def test_wasserstein():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    close(Wasserstein().discriminator(real, fake), 1.0 - 2.0)  # E D(G(z)) - E D(x)
    close(Wasserstein().generator(fake), -1.0)
    close(WassersteinGP().discriminator(real, fake), -1.0)


def test_make_loss_names():
    assert set(LOSSES) == {"minimax", "nonsaturating", "lsgan", "hinge", "wgan", "wgan-gp"}
    assert isinstance(make_loss("wgan-gp"), WassersteinGP)
    with pytest.raises(UserError, match="choose one of"):
        make_loss("wgan-div")


def test_losses_on_bf16_logits_are_float32():
    for name in LOSSES:
        loss = make_loss(name).discriminator(REAL.bfloat16(), FAKE.bfloat16())
        assert loss.dtype == torch.float32


def test_clip_weights():
    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.003]]))
        layer.bias.fill_(-1.0)
    clip_weights(layer, 0.01)
    assert layer.weight.tolist() == [[pytest.approx(0.01), pytest.approx(-0.003)]]
    assert layer.bias.item() == pytest.approx(-0.01)


def half_square_norm(x: torch.Tensor) -> torch.Tensor:
    """D(x) = ½‖x‖² per sample, so ∇D(x) = x and ‖∇D(x)‖ = ‖x‖ over all of C×H×W."""
    return 0.5 * x.flatten(1).pow(2).sum(1)


def test_gradient_penalty_norm_is_per_sample_over_all_dims():
    real = torch.stack([torch.ones(1, 2, 2), 2 * torch.ones(1, 2, 2)])  # N×C×H×W = 2×1×2×2
    fake = torch.zeros_like(real)
    eps = torch.tensor([0.5, 1.0])
    # x̂₀ = ½ everywhere: ‖x̂₀‖ = √(4·¼) = 1 → (1-1)² = 0;  x̂₁ = 2: ‖x̂₁‖ = √16 = 4 → (4-1)² = 9.
    close(gradient_penalty(half_square_norm, real, fake, eps), (0 + 9) / 2)
    # (A norm over the whole batch would give (√17 - 1)² ≈ 9.75; one over the channel dim only,
    # one per pixel: (½-1)²·4 and (2-1)²·4 averaged = 0.625.)


def test_gradient_penalty_draws_one_weight_per_sample():
    n = 64
    fake = torch.randn(n, 3, 4, 4)
    real = fake + 1.0  # so x̂ - fake = ε exactly, element by element
    seen = {}

    def critic(x):
        seen["x"] = x.detach()
        return half_square_norm(x)

    torch.manual_seed(0)
    gradient_penalty(critic, real, fake)
    eps = seen["x"] - fake
    per_sample = eps.flatten(1)
    # One ε per sample: constant over C×H×W...
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4)
    # ...but different between samples, and uniform on [0, 1].
    first = per_sample[:, 0]
    assert first.unique().numel() == n
    assert 0 <= first.min() and first.max() <= 1 and first.std() > 0.2


def test_gradient_penalty_trains_the_critic():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[2.0, 0.0, 0.0, 0.0]]))
    gp = gradient_penalty(lambda x: critic(x).view(-1), torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2))
    close(gp, (2.0 - 1.0) ** 2)  # a linear critic's gradient is its weight: ‖w‖ = 2
    gp.backward()
    # d/dw (‖w‖ - 1)² = 2(‖w‖ - 1)·w/‖w‖ = [2, 0, 0, 0]
    assert critic[1].weight.grad.tolist() == [[pytest.approx(2.0), 0.0, 0.0, 0.0]]


def test_r1_penalty_is_mean_squared_gradient_norm():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(2, 1, 1, 2).requires_grad_(True)
    close(r1_penalty(half_square_norm(x), x), (1 + 4 + 9 + 16) / 2)  # (‖x₀‖² + ‖x₁‖²)/2 = (5 + 25)/2
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 2.0]))
    y = torch.randn(4, 3).requires_grad_(True)
    r1 = r1_penalty(y @ w, y)
    close(r1, 9.0)  # ∇ₓ(w·x) = w, ‖w‖² = 9 for every sample
    r1.backward()
    assert w.grad.tolist() == pytest.approx([2.0, 4.0, 4.0])  # d‖w‖²/dw = 2w
